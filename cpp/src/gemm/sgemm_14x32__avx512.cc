// AVX-512 SGEMM microkernel: a 14 x 32 tile of C held in 28 zmm accumulators.
//
// Why 14 x 32: AVX-512 has 32 zmm registers. 14 rows x 2 vectors = 28 accumulators, plus
// 2 registers for the B row and 1 for the broadcast A value, leaves one spare. Per k step
// the kernel does 28 FMAs against 2 vector loads + 14 broadcasts, which keeps Zen 5's two
// 512-bit FMA pipes fed without saturating its load ports. (12 x 32 was measured as
// slightly slower; see benchmarks/RESULTS.md.)
//
// The edge kernel runs the same loop over zero-padded panels and writes only the m x n
// corner, using AVX-512 masked loads/stores for the columns.
#include <immintrin.h>

#include "gemm/gemm_kernels.h"
#include "gemm/pack_generic.h"

namespace cnnnative {
namespace gemm_detail {
namespace {

constexpr int kMR = 14;
constexpr int kNR = 32;

// acc[r][v] += A_panel[:, r] * B_panel[:, 16v : 16v+16] over kc steps.
template <int MR>
inline __attribute__((always_inline)) void accumulate(int64_t kc, const float* a, const float* b,
                                                      __m512 (&acc)[MR][2]) {
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
  for (int64_t k = 0; k < kc; ++k) {
    const __m512 b0 = _mm512_load_ps(b);
    const __m512 b1 = _mm512_load_ps(b + 16);
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) {
      const __m512 ar = _mm512_set1_ps(a[r]);
      acc[r][0] = _mm512_fmadd_ps(ar, b0, acc[r][0]);
      acc[r][1] = _mm512_fmadd_ps(ar, b1, acc[r][1]);
    }
    a += MR;
    b += kNR;
  }
}

// beta * C (masked to `mask`, not read when beta == 0), then bias and clamp.
inline __attribute__((always_inline)) __m512 finish(__m512 v, const float* c, __mmask16 mask,
                                                    float beta, const TileEpilogue* ep, int r,
                                                    int col) {
  if (beta != 0.f) v = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mask, c), _mm512_set1_ps(beta), v);
  if (ep) {
    if (ep->row_bias) v = _mm512_add_ps(v, _mm512_set1_ps(ep->row_bias[r]));
    if (ep->col_bias) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(mask, ep->col_bias + col));
    if (ep->clamp)
      v = _mm512_min_ps(_mm512_max_ps(v, _mm512_set1_ps(ep->lo)), _mm512_set1_ps(ep->hi));
  }
  return v;
}

template <int MR>
void full_tile(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, float beta,
               const TileEpilogue* ep) {
  __m512 acc[MR][2];
  accumulate<MR>(kc, a, b, acc);
  const __mmask16 all = 0xFFFF;
  if (beta == 0.f && !ep) {
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) {
      _mm512_storeu_ps(c + r * ldc, acc[r][0]);
      _mm512_storeu_ps(c + r * ldc + 16, acc[r][1]);
    }
    return;
  }
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r) {
    float* crow = c + r * ldc;
    _mm512_storeu_ps(crow, finish(acc[r][0], crow, all, beta, ep, r, 0));
    _mm512_storeu_ps(crow + 16, finish(acc[r][1], crow + 16, all, beta, ep, r, 16));
  }
}

template <int MR>
void edge_tile(int64_t m, int64_t n, int64_t kc, const float* a, const float* b, float* c,
               int64_t ldc, float beta, const TileEpilogue* ep) {
  __m512 acc[MR][2];
  accumulate<MR>(kc, a, b, acc);
  // Column masks for the two vectors of a row: n in [1, 32].
  const uint32_t bits = n >= 32 ? 0xFFFFFFFFu : ((1u << n) - 1u);
  const __mmask16 m0 = static_cast<__mmask16>(bits & 0xFFFF);
  const __mmask16 m1 = static_cast<__mmask16>(bits >> 16);
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r) {
    if (r >= m) break;
    float* crow = c + r * ldc;
    _mm512_mask_storeu_ps(crow, m0, finish(acc[r][0], crow, m0, beta, ep, r, 0));
    if (m1) _mm512_mask_storeu_ps(crow + 16, m1, finish(acc[r][1], crow + 16, m1, beta, ep, r, 16));
  }
}

void pack_a(bool trans, const float* a, int64_t lda, int64_t m, int64_t k, float alpha, float* dst) {
  pack_a_generic<kMR>(trans, a, lda, m, k, alpha, dst);
}
void pack_b(bool trans, const float* b, int64_t ldb, int64_t k, int64_t n, float* dst) {
  if (trans)
    pack_b_trans_32__avx512(b, ldb, k, n, dst);
  else
    pack_b_generic<kNR>(trans, b, ldb, k, n, dst);
}

}  // namespace

const GemmKernelTable& gemm_table_avx512() {
  // KC: a 32-column B panel of KC rows (KC*128 bytes) plus the streamed A panel fit the
  // 48 KiB L1. MC: the packed A block (MC*KC*4 bytes) sits in the 1 MiB L2. NC: the packed
  // B block (KC*NC*4 bytes) sits in the shared L3.
  static const GemmKernelTable table{
      "14x32__avx512", kMR, kNR, /*mc=*/kMR * 24, /*kc=*/256, /*nc=*/kNR * 128,
      &full_tile<kMR>, &edge_tile<kMR>, &pack_a, &pack_b};
  return table;
}

}  // namespace gemm_detail
}  // namespace cnnnative
