// int8 compute kernels: exact int32 products of int8 weights and uint8 activations.
//
// The building blocks of int8 inference (issue 16, item 3). They compute integer sums
// only; scales, zero points and requantization are the caller's (the engine's int8 nodes):
//   y_real[m, n] = sw[m] * sx * (C[m, n] - xz * row_sums[m])
// where C = W @ X with X the uint8 activations and xz their zero point.
//
// Exactness: every result is the exact int32 sum, on every ISA. A sum of K products of
// |u8 * s8| <= 255 * 128 fits int32 for K <= kMaxK (65793), which pack_weights_s8 checks.
//
// Dispatch follows cnnnative::active_isa() at each call (CNNNATIVE_ISA / set_isa):
//   avx512 on a CPU with AVX512-VNNI -> "avx512_vnni" (vpdpbusd on zmm, u8 x s8 4-way dots);
//   avx512 without AVX512-VNNI, or avx2: the AVX2-class kernel (set_avx2_int8_kernel):
//     on a CPU with AVX-VNNI          -> "avx_vnni" (vpdpbusd on ymm, VEX encoding);
//     else                            -> "avx2" (u8 and s8 widened to int16, vpmaddwd:
//                                       no vpmaddubsw, whose int16 sums saturate);
//   scalar                           -> "scalar" (the reference).
// No AMX-INT8 kernel is built: no CPU here has AMX to test it on.
//
// Threads: a call runs on cnnnative::num_threads() threads only when its work is worth it
// (see gemm_s8u8_s32); it releases nothing and takes no lock, so calls are reentrant and
// may run from several threads at once.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "cnnnative/conv_params.h"

namespace cnnnative::quant {

constexpr int64_t kMaxK = 65793;  // (2^31 - 1) / (255 * 128): the longest exact int32 sum

// Weights of a conv/linear layer, packed once (at build time) for the GEMM kernel of the
// ISA active when packed. M = output channels, K = C/groups*R*S or in_features.
// A different ISA at call time still computes the right result (the call repacks into a
// temporary: correct, slower), so tests may switch ISAs freely.
struct PackedWeightsS8 {
  int64_t M = 0, K = 0;
  std::vector<int32_t> row_sums;  // sum_k W[m][k], M values: zero-point compensation

  // The layout (opaque to callers): for each tile of `mr` rows (the last zero-padded),
  // ceil(K/kg) groups of `mr` x `kg` elements of `elem` bytes (int8, or int16 for the
  // AVX2 kernel), K zero-padded to a multiple of kg.
  int layout = -1;
  int mr = 0, kg = 0, elem = 0;
  std::vector<int8_t> data;

  int64_t k_groups() const { return (K + kg - 1) / kg; }
  int64_t tile_bytes() const { return k_groups() * mr * kg * elem; }
  // W[m][k], read back from the packed layout (tests, and the repacking fallback).
  int32_t at(int64_t m, int64_t k) const;
};

// Packs W (M x K, row-major, dense) for the active ISA's GEMM kernel.
// n_hint: the N the weights will mostly be used with (output pixels x batch for a conv,
// the batch for a linear layer), or 0 if unknown. On VNNI a small N (e.g. 49, or 1-8)
// selects a kernel with its vector lanes along M instead of N, which wastes fewer lanes
// there; any N still works with either.
// Throws ValueError for negative sizes or K > kMaxK.
PackedWeightsS8 pack_weights_s8(const int8_t* w, int64_t M, int64_t K, int64_t n_hint = 0);
// Packs W for the kernel with its lanes along M (the transposed VNNI kernel, tiles of 64
// rows) where the active ISA has it, else as pack_weights_s8 (gemm_s8u8_s32_taps_c4t's
// weights).
PackedWeightsS8 pack_weights_s8_lanes_m(const int8_t* w, int64_t M, int64_t K);

// C[m, n] = sum_k W[m, k] * X[k, n], exact int32.
// x: uint8, K x N, row stride ldx >= max(N, 1); c: int32, M x N, row stride ldc >= max(N, 1).
// M, N, K any sizes >= 0 (K == 0 writes zeros). C must not overlap X.
// Runs on num_threads() threads when M*N*K >= 2^22 and there are at least two tiles of
// work; on one thread otherwise (and always when single_thread).
void gemm_s8u8_s32(const PackedWeightsS8& w, int64_t N, const uint8_t* x, int64_t ldx, int32_t* c,
                   int64_t ldc, bool single_thread = false);

// C = W X on one thread for X given as `taps` shifted views of one zero-point-padded image,
// the implicit GEMM of a stride-1 convolution: row t * round_up(channels, 4) + c of X is
// x + tap_offsets[t] + c * ldx (N contiguous bytes), rows c >= channels are zero; so
// W's K must be taps * round_up(channels, 4), its columns ordered (tap, channel) with zeros
// in the padding columns. Each panel of X is packed straight from the image, with no
// unfolded copy. Exact int32 sums as gemm_s8u8_s32 (weights packed under another ISA:
// gathered into a dense X first, correct and slower).
void gemm_s8u8_s32_taps(const PackedWeightsS8& w, int64_t N, const uint8_t* x, int64_t ldx,
                        const int64_t* tap_offsets, int64_t taps, int64_t channels, int32_t* c, int64_t ldc);

// The same product with the image stored 4 channels per pixel: channel quad q (channels
// 4q .. 4q+3, zero point or anything in the channels past `channels`) is a plane of
// 4-byte pixels at x + q * quad_stride, and row t * round_up(channels, 4) + c of X is
// channel c of pixels tap_offsets[t] + n, n < N, i.e. byte
// x + (c / 4) * quad_stride + 4 * (tap_offsets[t] + n) + c % 4. That is the layout the
// VNNI kernel multiplies, so it runs straight on the image, its accumulators kept over
// all taps. Only where gemm_s8_taps_c4_supported(w) (the AVX512-VNNI kernel runs w). It
// reads whole vectors of 16 pixels: up to 15 pixels (60 bytes) past each tap's last
// column must be readable (their values are not used). Exact int32 sums, on one thread.
bool gemm_s8_taps_c4_supported(const PackedWeightsS8& w);
void gemm_s8u8_s32_taps_c4(const PackedWeightsS8& w, int64_t N, const uint8_t* x, int64_t quad_stride,
                           const int64_t* tap_offsets, int64_t taps, int64_t channels, int32_t* c, int64_t ldc);

// The same product with lanes along M (for images of few pixels: no column is computed
// that is not an output): weights packed by pack_weights_s8_lanes_m, and column n of X is
// the pixel at pixel_offsets[n] (in pixels, added to each tap's offset), so the columns
// need not be contiguous (the output pixels of a padded grid, without its padding
// columns). Reads nothing past the listed pixels. Only where
// gemm_s8_taps_c4t_supported(w) (weights in the transposed AVX512-VNNI layout, run by it).
bool gemm_s8_taps_c4t_supported(const PackedWeightsS8& w);
void gemm_s8u8_s32_taps_c4t(const PackedWeightsS8& w, int64_t N, const uint8_t* x, int64_t quad_stride,
                            const int64_t* tap_offsets, int64_t taps, const int64_t* pixel_offsets, int64_t channels,
                            int32_t* c, int64_t ldc);

// One row of gemm_s8u8_s32_taps_c4's layout: pixel i of dst (4 bytes) is
// (s[0][i * step], s[1][i * step], s[2][i * step], s[3][i * step]) for i < n, step >= 1.
// AVX-512 where the CPU has it (steps 1 and 2), else plain loops.
void interleave4_u8(const uint8_t* const s[4], int64_t n, int64_t step, uint8_t* dst);
// Both stride-2 phases of 4 rows of n bytes: pixel i of even is (s[0][2i], .., s[3][2i])
// for i < (n + 1) / 2, pixel i of odd (s[0][2i + 1], .., s[3][2i + 1]) for i < n / 2.
void split_interleave4_u8(const uint8_t* const s[4], int64_t n, uint8_t* even, uint8_t* odd);

// im2col for uint8 activations: the (C/groups*R*S) x (OH*OW) matrix of one image and one
// group, rows ordered (c, r, s) as the OIHW weight's columns; taps in the padding read
// `zero_point`, so padding contributes zero_point * w exactly as a real zero would after
// dequantization. x: one image (C x H x W, uint8); out: dense, row stride OH*OW.
void im2col_u8(const ConvParams& p, const uint8_t* x, uint8_t zero_point, int64_t group, uint8_t* out);

// Depthwise int8 convolution (groups == C, K = C * m for a channel multiplier m >= 1):
//   y[n, k, oh, ow] = sum_{r,s} w[k, 0, r, s] * x[n, k / m, ih, iw]
// with ih = oh*stride_h - pad_top + r*dilation_h (iw likewise); taps in the padding
// read x_zero_point. Any kernel size, stride, padding and dilation. Under the avx512 ISA:
// vpdpbusd on vpermb-gathered taps where the CPU has AVX512-VNNI and VBMI and the taps of
// 16 outputs fit 64 bytes (15*stride_w + (S-1)*dilation_w < 64), else vpmaddwd for
// stride_w 1 and 2 (up to 64 taps); everything else (and the scalar ISA) scalar.
// Under avx2: vpmaddwd at 8 outputs per vector for stride_w 1 and 2 (up to 64 taps), else
// scalar. x: uint8 N x C x H x W; w: int8 K x 1 x R x S;
// y: int32 N x K x OH x OW, dense. Parallel over (n, k) planes when worth it.
// Throws ValueError when p is not depthwise or invalid, or R*S > kMaxK.
void depthwise_s8u8_s32(const ConvParams& p, const uint8_t* x, uint8_t x_zero_point, const int8_t* w,
                        int32_t* y, bool single_thread = false);

// Which GEMM kernel the dispatch picks now: "avx512_vnni", "avx_vnni", "avx2" or "scalar"
// ("avx_vnni_evex" when a test chose it).
const char* int8_isa();
bool cpu_has_avx512_vnni();
bool cpu_has_avx_vnni();       // cpuid: AVX-VNNI (and the OS saves YMM state)
bool avx_vnni_kernel_built();  // the compiler knew -mavxvnni when this library was built

// The AVX2-class int8 GEMM kernel (the avx2 ISA's, and avx512's without AVX512-VNNI):
// automatic (AVX-VNNI where the CPU has it and it was built, else AVX2), or one forced.
// avx_vnni_evex is the AVX-VNNI kernel's body in EVEX encoding (AVX512-VNNI + VL): the
// tests run it on AVX-512 machines, which have no AVX-VNNI. Throws ValueError for a
// kernel this CPU or build cannot run. Process-wide, for tests and benchmarks; the
// environment variable CNNNATIVE_AVX2_INT8_KERNEL (a name below) sets it at first use.
enum class Avx2Int8Kernel { automatic = 0, avx2 = 1, avx_vnni = 2, avx_vnni_evex = 3 };
void set_avx2_int8_kernel(Avx2Int8Kernel k);
Avx2Int8Kernel avx2_int8_kernel();
// "auto", "avx2", "avx_vnni", "avx_vnni_evex" (ValueError for another name) and back.
Avx2Int8Kernel avx2_int8_kernel_from_name(const std::string& name);
const char* avx2_int8_kernel_name(Avx2Int8Kernel k);

// Peak int8 multiply-add rate of the kernel int8_isa() names, in GOPS (a multiply-add is
// 2 ops), on `threads` threads: a loop of independent vpdpbusd (or vpmaddwd + vpaddd on
// AVX2) chains held in registers. thread_cpu_time (threads == 1 only) times by the
// thread's CPU time, for a busy machine.
double measure_int8_peak(double seconds, int threads, bool thread_cpu_time = false);

}  // namespace cnnnative::quant
