// The AVX-512 SGEMM microkernel as a template over its tile: MR rows x NV vectors of 16
// columns (NR = 16 * NV), held in MR * NV zmm accumulators. Each tile shape the library
// uses is instantiated in its own file (sgemm_<MR>x<NR>__avx512.cc) with its blocking.
//
// Per k step: NV vector loads of the B panel row, MR broadcasts of A, MR * NV FMAs.
// The full-tile kernel stores the whole tile; the edge kernel runs the same loop over
// the zero-padded panels and writes only the m x n corner with AVX-512 masked
// loads/stores. beta == 0 never reads C. Everything here has internal linkage: include
// this only from __avx512 files.
#pragma once
#include <immintrin.h>

#include "gemm/gemm_kernels.h"
#include "gemm/pack_generic.h"

namespace cnnnative {
namespace gemm_detail {
namespace {

// acc[r][v] += A_panel[:, r] * B_panel[:, 16v : 16v+16] over kc steps; NR = 16 * NV.
template <int MR, int NV>
inline __attribute__((always_inline)) void accumulate(int64_t kc, const float* a, const float* b,
                                                      __m512 (&acc)[MR][NV]) {
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_setzero_ps();
  for (int64_t k = 0; k < kc; ++k) {
    __m512 bv[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) bv[v] = _mm512_load_ps(b + 16 * v);
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) {
      const __m512 ar = _mm512_set1_ps(a[r]);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_fmadd_ps(ar, bv[v], acc[r][v]);
    }
    a += MR;
    b += 16 * NV;
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
      // Data second: max/min return the second operand on NaN, so NaN stays NaN.
      v = _mm512_min_ps(_mm512_set1_ps(ep->hi), _mm512_max_ps(_mm512_set1_ps(ep->lo), v));
  }
  return v;
}

template <int MR, int NV>
void full_tile(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, float beta,
               const TileEpilogue* ep) {
  __m512 acc[MR][NV];
  accumulate<MR, NV>(kc, a, b, acc);
  if (beta == 0.f && !ep) {
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) _mm512_storeu_ps(c + r * ldc + 16 * v, acc[r][v]);
    return;
  }
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r) {
    float* crow = c + r * ldc;
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v)
      _mm512_storeu_ps(crow + 16 * v, finish(acc[r][v], crow + 16 * v, 0xFFFF, beta, ep, r, 16 * v));
  }
}

template <int MR, int NV>
void edge_tile(int64_t m, int64_t n, int64_t kc, const float* a, const float* b, float* c,
               int64_t ldc, float beta, const TileEpilogue* ep) {
  __m512 acc[MR][NV];
  accumulate<MR, NV>(kc, a, b, acc);
  // Column masks, one per vector of a row: n in [1, 16 * NV].
  __mmask16 mask[NV];
#pragma GCC unroll 4
  for (int v = 0; v < NV; ++v) {
    const int64_t left = n - 16 * v;
    mask[v] = left >= 16 ? 0xFFFF : left <= 0 ? 0 : static_cast<__mmask16>((1u << left) - 1u);
  }
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r) {
    if (r >= m) break;
    float* crow = c + r * ldc;
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v)
      if (mask[v])
        _mm512_mask_storeu_ps(crow + 16 * v, mask[v],
                              finish(acc[r][v], crow + 16 * v, mask[v], beta, ep, r, 16 * v));
  }
}

template <int MR>
void pack_a_avx512(bool trans, const float* a, int64_t lda, int64_t m, int64_t k, float alpha,
                   float* dst) {
  static_assert(MR <= 16, "pack_a__avx512 packs at most 16 rows per panel");
  pack_a__avx512(MR, trans, a, lda, m, k, alpha, dst);
}

template <int NV>
void pack_b_avx512(bool trans, const float* b, int64_t ldb, int64_t k, int64_t n, float* dst) {
  if (trans)
    pack_b_trans__avx512(NV, b, ldb, k, n, dst);
  else
    pack_b_generic<16 * NV>(trans, b, ldb, k, n, dst);
}

// The table for one tile shape and blocking.
template <int MR, int NV>
GemmKernelTable avx512_table(const char* name, int64_t mc, int64_t kc, int64_t nc) {
  // mc was tuned for a 1 MiB L2: scaled to this CPU's (cnnnative/cpu_caches.h).
  return GemmKernelTable{name, Isa::avx512, MR, 16 * NV, scale_to_l2(mc, MR), kc, nc,
                         &full_tile<MR, NV>, &edge_tile<MR, NV>, &pack_a_avx512<MR>,
                         &pack_b_avx512<NV>};
}

}  // namespace
}  // namespace gemm_detail
}  // namespace cnnnative
