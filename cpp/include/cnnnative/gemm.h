// Single-precision matrix multiply, the engine of im2col, Winograd, FFT and linear.
//
//   C = alpha * op(A) * op(B) + beta * C
//
// Row-major storage. op(A) is M x K, op(B) is K x N, C is M x N; lda/ldb/ldc are row
// strides of the arrays as stored (so A stored K x M when trans_a). beta == 0 means C
// is write-only: NaN in C is not propagated. alpha == 0 or K == 0 means A and B are not
// read (C = beta * C). Bad sizes/strides throw std::invalid_argument (ValueError).
//
// Implementation (cpp/src/gemm/): BLIS-style packed GEMM. op(A) is packed in MR-row
// panels (alpha folded in), op(B) in NR-column panels, with MC/KC/NC cache blocking and
// a register-tiled microkernel per ISA (AVX-512: 14x32, 8x48 or 6x64, whichever pads
// M and N least; AVX2: 6x16; scalar: 4x4), chosen by active_isa() on every call. Some
// shapes are computed as C^T and transposed into C, and few-tile/long-K products split
// K across threads (sgemm.cc explains when). Pack buffers are thread-local and reused
// (they only grow), so calls from several threads at once are safe and the hot loops
// never allocate.
//
// Results are deterministic for a given ISA, thread count and shape. sgemm and
// sgemm_single_thread give bitwise-equal results except where K is split across
// threads (few C tiles and K >= 2048), whose partial sums round differently.
#pragma once
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

namespace cnnnative {

// Uses the library's threads (its team across blocks). Inside a team's region it runs on
// the calling thread alone; sgemm_single_thread says so explicitly.
void sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
           const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
           int64_t ldc);

// Same contract, runs on the calling thread only (for callers that parallelise outside).
void sgemm_single_thread(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K,
                         float alpha, const float* A, int64_t lda, const float* B, int64_t ldb,
                         float beta, float* C, int64_t ldc);

// Work done on C while the microkernel still holds it in registers, after the multiply:
//
//   C[i][j] = clamp(alpha * op(A)op(B)[i][j] + beta * C[i][j] + row_bias[i] + col_bias[j],
//                   clamp_min, clamp_max)
//
// Each part is optional: a null bias is skipped, and the clamp is skipped while both
// bounds are infinite. Use it for conv (bias per output channel = per row of C when C is
// K x OH*OW), linear (bias per output feature = per column of C when C is batch x out),
// fused ReLU (clamp_min = 0) and ReLU6 (0, 6).
struct GemmEpilogue {
  const float* row_bias = nullptr;  // M values, or null
  const float* col_bias = nullptr;  // N values, or null
  float clamp_min = -INFINITY;
  float clamp_max = INFINITY;

  static GemmEpilogue none() { return {}; }
  static GemmEpilogue relu() { GemmEpilogue e; e.clamp_min = 0.f; return e; }
  static GemmEpilogue relu6() { GemmEpilogue e; e.clamp_min = 0.f; e.clamp_max = 6.f; return e; }
  bool has_clamp() const { return std::isfinite(clamp_min) || std::isfinite(clamp_max); }
  bool empty() const { return !row_bias && !col_bias && !has_clamp(); }
};

// sgemm / sgemm_single_thread with an epilogue (clamp_min <= clamp_max, else ValueError).
void sgemm_ex(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
              const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
              int64_t ldc, const GemmEpilogue& epilogue);
void sgemm_ex_single_thread(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K,
                            float alpha, const float* A, int64_t lda, const float* B,
                            int64_t ldb, float beta, float* C, int64_t ldc,
                            const GemmEpilogue& epilogue);

// The tile and cache blocking the active ISA's SGEMM uses for an M x N x K product (for
// reports and for tests that pick sizes around the tile and block edges).
struct SgemmBlocking {
  const char* kernel;  // e.g. "14x32__avx512"
  int mr, nr;          // register tile
  int64_t mc, kc, nc;  // cache blocks
  bool transposed;     // computes C^T = op(B)^T op(A)^T (N x M, tile applies to that)
};
SgemmBlocking sgemm_blocking(int64_t M, int64_t N, int64_t K, bool trans_b = false);

// Debugging aid for tests: when on, the pack buffers are filled with NaN before each
// call, so a kernel that read scratch it had not written would produce NaN. Off by default.
void set_sgemm_poison_scratch(bool on);

// The tiles the active ISA chooses from per call (by least padding of M and N).
std::vector<std::string> sgemm_kernels();
// Testing/benchmarking aid: every tile/blocking compiled in (including alternatives never
// chosen automatically), and a switch that forces one by name for calls on its ISA
// ("" restores automatic choice). Process-wide: not for production use.
std::vector<std::string> sgemm_variants();
void force_sgemm_kernel(const std::string& name);

// Peak FP32 FMA throughput of this machine in GFLOP/s, measured by running independent
// FMA chains in registers for about `seconds` on `threads` threads (the best ISA the CPU
// supports). The yardstick that GEMM and conv benchmarks report "% of peak" against.
// thread_cpu_time (threads == 1 only): time by the calling thread's CPU time instead of
// the wall clock, so a busy machine does not lower the figure.
double measure_fma_peak(double seconds, int threads, bool thread_cpu_time = false);

}  // namespace cnnnative
