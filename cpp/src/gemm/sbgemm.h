// bf16 GEMM with fp32 accumulation: the kernel of `compile(..., precision="bf16")`.
//
//   C (m x n, fp32) = bf16(A) (m x k) * bf16(W)^T (k x n),  W stored n x k (out x depth)
//
// W (a layer's weights) is rounded to bf16 once, at build time, and packed into NR-column
// panels with pairs of k interleaved -- the operand layout of AVX512-BF16's `vdpbf16ps`,
// which multiplies two bf16 pairs per 32-bit lane and adds both products into an fp32
// accumulator. A (the activations: a conv's pixels, a linear layer's batch rows) is rounded
// to bf16 while it is packed, per call, into MR-row panels of the same pairs. The
// microkernel keeps an MR x NR tile of fp32 accumulators in registers for the whole depth
// and writes it once (no partial sums in memory).
//
// Rounding: round to nearest even; NaN stays NaN (quiet), +-inf stays inf; fp32 denormals
// become signed zero, as vcvtne2ps2bf16 and vdpbf16ps treat them (DAZ), so the build-time
// (scalar) and run-time (vector) conversions agree bit for bit.
//
// CPUs without AVX512-BF16 (and any active ISA below avx512, CNNNATIVE_ISA=avx2/scalar)
// run the same plan as: round the inputs and weights to bf16, widen them back to fp32,
// then the fp32 SGEMM -- the same products (a bf16 x bf16 product is exact in fp32), summed
// in another order. There is no AMX code: no machine here has AMX to run it on.
#pragma once
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

namespace cnnnative {
namespace bf16 {

constexpr int kMR = 14;  // rows (pixels / batch items) per A panel: 7 divides every ResNet image size
constexpr int kNR = 32;  // columns (output channels / features) per W panel: two zmm of pairs

// This CPU has AVX512-BF16 (cpuid 7.1:EAX[5]) with the OS saving ZMM state.
bool cpu_has_avx512_bf16();
// The vdpbf16ps kernels run now: the CPU has them and the active ISA is avx512.
bool native();

inline uint16_t round_to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return uint16_t((u >> 16) | 0x40u);  // NaN: quiet, keep sign/payload top
  if ((u & 0x7f800000u) == 0) return uint16_t((u >> 16) & 0x8000u);       // zero / denormal: signed zero
  u += 0x7fffu + ((u >> 16) & 1u);
  return uint16_t(u >> 16);
}
inline float bf16_to_float(uint16_t h) {
  const uint32_t u = uint32_t(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
inline float round_float(float f) { return bf16_to_float(round_to_bf16(f)); }
// y[i] = fp32(bf16(x[i])) (y may be x).
void round_array(const float* x, float* y, int64_t count);

// W (n x k, row stride ldw) rounded and packed in one of two layouts. Columns (the vector
// side, default): panel q holds W's rows [q*NR, q*NR + width) (width NR, or 16 for a last
// panel with <= 16 left) as [pair][row] dwords of two bf16 (k even, k odd). Rows
// (`as_rows`, the broadcast side, for products whose OTHER operand is the vector side):
// panel i holds rows [i*MR, i*MR + MR) as [pair][row] dwords, as pack_a_* lays out A.
// Rows past n and the odd k's partner are zero. Immutable after construction.
class PackedWeights {
 public:
  PackedWeights(const float* w, int64_t ldw, int64_t n, int64_t k, bool as_rows = false);
  int64_t n() const { return n_; }
  int64_t k() const { return k_; }
  bool as_rows() const { return rows_; }
  int64_t pairs() const { return (k_ + 1) / 2; }
  int64_t panels() const { return rows_ ? (n_ + kMR - 1) / kMR : (n_ + kNR - 1) / kNR; }
  int panel_width(int64_t q) const { return n_ - q * kNR > 16 ? kNR : 16; }  // columns layout
  const uint32_t* panel(int64_t q) const { return data_.get() + q * pairs() * (rows_ ? kMR : kNR); }
  int64_t bytes() const { return panels() * pairs() * (rows_ ? kMR : kNR) * 4; }
  // The rounded weights back as fp32, n x k at w (row stride ldw): the fallback's operand.
  void unpack(float* w, int64_t ldw) const;

 private:
  int64_t n_, k_;
  bool rows_;
  std::shared_ptr<uint32_t> data_;  // 64-byte aligned
};

// Dwords of an A block of m rows and k depth: ceil(m / MR) panels of pairs * MR.
inline int64_t packed_a_dwords(int64_t m, int64_t k) { return (m + kMR - 1) / kMR * kMR * ((k + 1) / 2); }

// Native only (AVX512-BF16). A block layout: panel i (rows [i*MR, i*MR + MR)) at
// dst + i * MR * pairs, dword [pair * MR + r] = (bf16(a[r][2p]), bf16(a[r][2p+1])); rows
// past m are not written (the kernels never read them).
//
// Rows [k0, k0 + kb) of the depth (k0 even) of an A stored transposed (k x m: conv's
// unfold, row stride ld, src points at its row k0), for m rows, into the block of depth k.
void pack_a_kxm(const float* src, int64_t ld, int64_t k0, int64_t kb, int64_t m, int64_t k, uint32_t* dst);
// A stored m x k (row stride ld: linear's input rows).
void pack_a_mxk(const float* src, int64_t ld, int64_t m, int64_t k, uint32_t* dst);
// C[0:m, 0 : min(n, q1*NR) - q0*NR] = A block * W^T's columns [q0*NR, q1*NR), row stride
// ldc; W panels outer, A panels inner (a W panel stays in cache while the A block streams).
void multiply(const uint32_t* a, int64_t m, const PackedWeights& w, int64_t q0, int64_t q1, float* c,
              int64_t ldc);

// The other orientation, for convs on large images: C (channels x pixels, row stride ldc,
// NCHW rows) = W (as_rows: m channels x k) * bf16(X) (k x n pixels). X's block is packed
// per call by pack_b_kxn into 32-pixel panels (16 for a last one with <= 16 left) of
// [pair][pixel] dwords: rows [k0, k0 + kb) (k0 even) of X stored k x n (row stride ld,
// src at its row k0), for n pixels, into the block of depth k at dst
// (packed_b_dwords(n, k) dwords; lanes past n zero).
inline int64_t packed_b_dwords(int64_t n, int64_t k) { return (n + kNR - 1) / kNR * kNR * ((k + 1) / 2); }
void pack_b_kxn(const float* src, int64_t ld, int64_t k0, int64_t kb, int64_t n, int64_t k, uint32_t* dst);
// C[0:rows, 0:n] = W rows [r0, r0 + rows) (r0 a multiple of MR) * packed X block; pixel
// panels outer, W panels inner; columns past n are not written.
void multiply_rows(const PackedWeights& w, int64_t r0, int64_t rows, const uint32_t* b, int64_t n, float* c,
                   int64_t ldc);

// C = bf16(A) * bf16(W)^T for A m x k (row stride lda), any ISA: native kernels when
// available, else rounded fp32 SGEMM. threads: 1 runs on the calling thread.
void gemm(const float* a, int64_t lda, int64_t m, const PackedWeights& w, float* c, int64_t ldc, int threads);

// Peak bf16 throughput of one core in GFLOP/s (a vdpbf16ps counts 64 flops): independent
// vdpbf16ps chains in registers for about `seconds` of the calling thread's CPU time, best
// of 5 rounds; 0 when the CPU has no AVX512-BF16.
double measure_peak(double seconds);
double dpbf16_loop(int64_t iterations, float* sink);  // native only: flops done

}  // namespace bf16

// A conv's or linear layer's bf16 weights, one packed matrix per group.
struct Bf16Weights {
  std::vector<bf16::PackedWeights> groups;
  int64_t bytes() const {
    int64_t b = 0;
    for (const auto& g : groups) b += g.bytes();
    return b;
  }
};

}  // namespace cnnnative
