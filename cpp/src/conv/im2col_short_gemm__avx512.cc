// AVX-512 C[M x N] = A[M x K] * B[K x N] (+ row bias) for short products (few output
// channels, see im2col_small_gemm.h): B is read in place, 48 columns (3 vectors) at a
// time, with no packing. The packed GEMM copies all of B once per call, which costs
// about as much as the 16-row product itself on LeNet's conv2 (16 x 800 x 150). One
// 48-column slab of B (K x 192 bytes) stays in L1 while every 8-row block of A passes
// over it: 24 accumulators, A (re-laid out by k) broadcast from memory. Serves the
// forward (16 x 800 x 150) and the input gradient (150 x 800 x 16, A transposed).
// Edges use lane masks; rows past M repeat the last row of A (computed, never stored).
// Callers keep to use_short_gemm(M, K), which bounds the stack copy of A.
#include <immintrin.h>

#include <algorithm>

#include "conv/im2col_small_gemm.h"

namespace cnnnative {
namespace im2col {

void short_gemm_avx512(int64_t M, int64_t N, int64_t K, const float* A, int64_t a_row,
                       int64_t a_col, const float* B, int64_t ldb, float* C, int64_t ldc, const float* row_bias) {
  constexpr int kRows = 8, kVecs = 3, kCols = 16 * kVecs;
  // A in blocks of 8 rows, interleaved by k (block b, k, row r at (b * K + k) * 8 + r) so
  // one pointer serves all broadcasts; rows past M repeat the last row (computed, never
  // stored). At most kShortGemmMaxAFloats rows x K, rounded up to 8 rows.
  alignas(64) float a_blocks[kShortGemmMaxAFloats + 7 * kShortGemmMaxK];
  const int64_t blocks = (M + kRows - 1) / kRows;
  for (int64_t bk = 0; bk < blocks; ++bk)
    for (int64_t k = 0; k < K; ++k)
      for (int r = 0; r < kRows; ++r)
        a_blocks[(bk * K + k) * kRows + r] =
            A[std::min<int64_t>(bk * kRows + r, M - 1) * a_row + k * a_col];
  for (int64_t j0 = 0; j0 < N; j0 += kCols) {
    __mmask16 mask[kVecs];
    for (int v = 0; v < kVecs; ++v) {
      const int64_t left = std::clamp<int64_t>(N - j0 - 16 * v, 0, 16);
      mask[v] = static_cast<__mmask16>((1u << left) - 1u);
    }
    for (int64_t bk = 0; bk < blocks; ++bk) {
      const int64_t i0 = bk * kRows;
      __m512 c00 = _mm512_setzero_ps(), c01 = c00, c02 = c00, c10 = c00, c11 = c00, c12 = c00,
             c20 = c00, c21 = c00, c22 = c00, c30 = c00, c31 = c00, c32 = c00, c40 = c00,
             c41 = c00, c42 = c00, c50 = c00, c51 = c00, c52 = c00, c60 = c00, c61 = c00,
             c62 = c00, c70 = c00, c71 = c00, c72 = c00;
      const float* b = B + j0;
      const float* a = a_blocks + bk * K * kRows;
      for (int64_t k = 0; k < K; ++k, b += ldb, a += kRows) {
        const __m512 b0 = _mm512_maskz_loadu_ps(mask[0], b);
        const __m512 b1 = _mm512_maskz_loadu_ps(mask[1], b + 16);
        const __m512 b2 = _mm512_maskz_loadu_ps(mask[2], b + 32);
#define CN_ROW(r)                                   \
  {                                                 \
    const __m512 av = _mm512_set1_ps(a[r]);         \
    c##r##0 = _mm512_fmadd_ps(av, b0, c##r##0);     \
    c##r##1 = _mm512_fmadd_ps(av, b1, c##r##1);     \
    c##r##2 = _mm512_fmadd_ps(av, b2, c##r##2);     \
  }
        CN_ROW(0) CN_ROW(1) CN_ROW(2) CN_ROW(3) CN_ROW(4) CN_ROW(5) CN_ROW(6) CN_ROW(7)
#undef CN_ROW
      }
      const __m512 acc[kRows][kVecs] = {{c00, c01, c02}, {c10, c11, c12}, {c20, c21, c22},
                                        {c30, c31, c32}, {c40, c41, c42}, {c50, c51, c52},
                                        {c60, c61, c62}, {c70, c71, c72}};
      const int rows = static_cast<int>(std::min<int64_t>(kRows, M - i0));
      for (int r = 0; r < rows; ++r) {
        const __m512 bias = _mm512_set1_ps(row_bias ? row_bias[i0 + r] : 0.f);
        float* c = C + (i0 + r) * ldc + j0;
        for (int v = 0; v < kVecs; ++v)
          _mm512_mask_storeu_ps(c + 16 * v, mask[v], _mm512_add_ps(acc[r][v], bias));
      }
    }
  }
}

}  // namespace im2col
}  // namespace cnnnative
