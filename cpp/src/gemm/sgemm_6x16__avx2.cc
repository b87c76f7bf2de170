// AVX2+FMA SGEMM microkernel: a 6 x 16 tile of C held in 12 ymm accumulators.
//
// Why 6 x 16: AVX2 has 16 ymm registers. 6 rows x 2 vectors = 12 accumulators, plus 2 for
// the B row and 1 for the broadcast A value. 12 FMAs per k step against 2 loads + 6
// broadcasts: the classic Haswell-and-later shape.
//
// The edge kernel computes the whole (zero-padded) tile into a small buffer on the stack
// and copies the m x n corner out, reading C only when beta != 0.
#include <immintrin.h>

#include <algorithm>

#include "gemm/gemm_kernels.h"
#include "gemm/pack_generic.h"

namespace cnnnative {
namespace gemm_detail {
namespace {

constexpr int kMR = 6;
constexpr int kNR = 16;

inline __attribute__((always_inline)) void accumulate(int64_t kc, const float* a, const float* b,
                                                      __m256 (&acc)[kMR][2]) {
#pragma GCC unroll 8
  for (int r = 0; r < kMR; ++r) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
  for (int64_t k = 0; k < kc; ++k) {
    const __m256 b0 = _mm256_load_ps(b);
    const __m256 b1 = _mm256_load_ps(b + 8);
#pragma GCC unroll 8
    for (int r = 0; r < kMR; ++r) {
      const __m256 ar = _mm256_broadcast_ss(a + r);
      acc[r][0] = _mm256_fmadd_ps(ar, b0, acc[r][0]);
      acc[r][1] = _mm256_fmadd_ps(ar, b1, acc[r][1]);
    }
    a += kMR;
    b += kNR;
  }
}

inline __attribute__((always_inline)) __m256 finish(__m256 v, const float* c, float beta,
                                                    const TileEpilogue* ep, int r, int col) {
  if (beta != 0.f) v = _mm256_fmadd_ps(_mm256_loadu_ps(c), _mm256_set1_ps(beta), v);
  if (ep) {
    if (ep->row_bias) v = _mm256_add_ps(v, _mm256_set1_ps(ep->row_bias[r]));
    if (ep->col_bias) v = _mm256_add_ps(v, _mm256_loadu_ps(ep->col_bias + col));
    if (ep->clamp)
      // Data second: max/min return the second operand on NaN, so NaN stays NaN.
      v = _mm256_min_ps(_mm256_set1_ps(ep->hi), _mm256_max_ps(_mm256_set1_ps(ep->lo), v));
  }
  return v;
}

void full_tile(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, float beta,
               const TileEpilogue* ep) {
  __m256 acc[kMR][2];
  accumulate(kc, a, b, acc);
#pragma GCC unroll 8
  for (int r = 0; r < kMR; ++r) {
    float* crow = c + r * ldc;
    _mm256_storeu_ps(crow, finish(acc[r][0], crow, beta, ep, r, 0));
    _mm256_storeu_ps(crow + 8, finish(acc[r][1], crow + 8, beta, ep, r, 8));
  }
}

void edge_tile(int64_t m, int64_t n, int64_t kc, const float* a, const float* b, float* c,
               int64_t ldc, float beta, const TileEpilogue* ep) {
  __m256 acc[kMR][2];
  accumulate(kc, a, b, acc);
  alignas(32) float tmp[kMR * kNR];
#pragma GCC unroll 8
  for (int r = 0; r < kMR; ++r) {
    _mm256_store_ps(tmp + r * kNR, acc[r][0]);
    _mm256_store_ps(tmp + r * kNR + 8, acc[r][1]);
  }
  store_edge_from_tile<kMR, kNR>(tmp, m, n, c, ldc, beta, ep);
}

void pack_a(bool trans, const float* a, int64_t lda, int64_t m, int64_t k, float alpha, float* dst) {
  pack_a_generic<kMR>(trans, a, lda, m, k, alpha, dst);
}
// op(B) stored K x N (not transposed): copy kRowsAtOnce rows at a time across every
// panel. The generic order (one panel at a time, all k rows) reads k lines a row stride
// apart for each 16 columns; with a power-of-two stride (N = 8192) those lines share a
// few cache sets and are evicted before the next panel reads its half of them. Here
// each of the few rows is read front to back (the prefetcher follows it), and each
// panel receives kRowsAtOnce * 64 contiguous bytes.
void pack_b_rows(const float* b, int64_t ldb, int64_t k, int64_t n, float* dst) {
  constexpr int64_t kRowsAtOnce = 8;
  const int64_t full_panels = n / kNR, tail = n - full_panels * kNR;
  for (int64_t k0 = 0; k0 < k; k0 += kRowsAtOnce) {
    const int64_t k1 = std::min(k, k0 + kRowsAtOnce);
    for (int64_t q = 0; q < full_panels; ++q) {
      const float* src = b + k0 * ldb + q * kNR;
      float* d = dst + q * kNR * k + k0 * kNR;
      for (int64_t kk = k0; kk < k1; ++kk, src += ldb, d += kNR) {
        _mm256_storeu_ps(d, _mm256_loadu_ps(src));
        _mm256_storeu_ps(d + 8, _mm256_loadu_ps(src + 8));
      }
    }
  }
  if (tail)  // the last, zero-padded panel
    pack_b_generic<kNR>(false, b + full_panels * kNR, ldb, k, tail, dst + full_panels * kNR * k);
}

// The standard in-register 8x8 transpose: r[i] holds row i on entry and column i on exit.
inline __attribute__((always_inline)) void transpose8x8(__m256 (&r)[8]) {
  const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
  const __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
  const __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
  const __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
  const __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xEE);
  const __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xEE);
  const __m256 s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xEE);
  const __m256 s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xEE);
  r[0] = _mm256_permute2f128_ps(s0, s4, 0x20);
  r[1] = _mm256_permute2f128_ps(s1, s5, 0x20);
  r[2] = _mm256_permute2f128_ps(s2, s6, 0x20);
  r[3] = _mm256_permute2f128_ps(s3, s7, 0x20);
  r[4] = _mm256_permute2f128_ps(s0, s4, 0x31);
  r[5] = _mm256_permute2f128_ps(s1, s5, 0x31);
  r[6] = _mm256_permute2f128_ps(s2, s6, 0x31);
  r[7] = _mm256_permute2f128_ps(s3, s7, 0x31);
}

// op(B) stored N x K (transposed): a 16-column panel row is one k value of 16 stored rows.
// Each 8 x 8 block (8 stored rows, 8 consecutive k) is read with 8 vector loads,
// transposed in registers and written as one 8-wide half of 8 panel rows; the scalar
// generic loop stored one float per (row, k). The k tail and the last, zero-padded panel
// keep the simple loops.
void pack_b_transposed(const float* b, int64_t ldb, int64_t k, int64_t n, float* dst) {
  const int64_t full_panels = n / kNR, tail = n - full_panels * kNR;
  const int64_t k8 = k - k % 8;
  for (int64_t q = 0; q < full_panels; ++q) {
    float* d = dst + q * kNR * k;
    for (int half = 0; half < 2; ++half) {
      const float* src = b + (q * kNR + half * 8) * ldb;
      for (int64_t k0 = 0; k0 < k8; k0 += 8) {
        __m256 r[8];
#pragma GCC unroll 8
        for (int i = 0; i < 8; ++i) r[i] = _mm256_loadu_ps(src + i * ldb + k0);
        transpose8x8(r);
#pragma GCC unroll 8
        for (int i = 0; i < 8; ++i) _mm256_storeu_ps(d + (k0 + i) * kNR + half * 8, r[i]);
      }
      for (int64_t kk = k8; kk < k; ++kk)
        for (int c = 0; c < 8; ++c) d[kk * kNR + half * 8 + c] = src[c * ldb + kk];
    }
  }
  if (tail)
    pack_b_generic<kNR>(true, b + full_panels * kNR * ldb, ldb, k, tail,
                        dst + full_panels * kNR * k);
}

void pack_b(bool trans, const float* b, int64_t ldb, int64_t k, int64_t n, float* dst) {
  if (trans)
    pack_b_transposed(b, ldb, k, n, dst);
  else
    pack_b_rows(b, ldb, k, n, dst);
}

}  // namespace

const GemmKernelTable& gemm_table_6x16__avx2() {
  // KC: the 16-column B panel (KC*64 bytes) and the A panel fit L1; MC*KC*4 fits L2 (144 KiB
  // for a 1 MiB L2, scaled to this CPU's: cnnnative/cpu_caches.h).
  static const GemmKernelTable table{
      "6x16__avx2", Isa::avx2, kMR, kNR, /*mc=*/scale_to_l2(kMR * 24, kMR), /*kc=*/256, /*nc=*/kNR * 256,
      &full_tile, &edge_tile, &pack_a, &pack_b};
  return table;
}

}  // namespace gemm_detail
}  // namespace cnnnative
