// AVX2 small_gemm (see small_gemm.h): a 6 x 16 tile of C in 12 ymm accumulators; per k,
// two loads of B's row and six broadcasts of A. Column tails run an 8-wide tile; the last
// tile's columns past N are computed (B is readable there) and not stored. Row tails
// repeat the last row of A and store only the real rows.
#include <immintrin.h>

#include <algorithm>

#include "local/small_gemm.h"

namespace cnnnative {
namespace local {
namespace {

constexpr int kRows = 6;

template <int Vectors>
void tile(int64_t rows, int64_t cols, int64_t K, const float* const a[kRows], int64_t a_col, const float* B,
          int64_t ldb, float* C, int64_t ldc) {
  __m256 acc[kRows][Vectors];
  for (int r = 0; r < kRows; ++r)
    for (int v = 0; v < Vectors; ++v) acc[r][v] = _mm256_setzero_ps();
  for (int64_t k = 0; k < K; ++k) {
    const float* b = B + k * ldb;
    __m256 bv[Vectors];
    for (int v = 0; v < Vectors; ++v) bv[v] = _mm256_loadu_ps(b + 8 * v);
    for (int r = 0; r < kRows; ++r) {
      const __m256 av = _mm256_broadcast_ss(a[r] + k * a_col);
      for (int v = 0; v < Vectors; ++v) acc[r][v] = _mm256_fmadd_ps(av, bv[v], acc[r][v]);
    }
  }
  // Out of registers through a buffer indexed by constants only: indexing acc by the
  // run-time row count would make GCC keep acc in memory inside the k loop (3x slower).
  alignas(32) float buffer[kRows][8 * Vectors];
  for (int r = 0; r < kRows; ++r)
    for (int v = 0; v < Vectors; ++v) _mm256_store_ps(buffer[r] + 8 * v, acc[r][v]);
  for (int64_t r = 0; r < rows; ++r) {
    float* c = C + r * ldc;
    if (cols == 8 * Vectors) {
      for (int v = 0; v < Vectors; ++v) _mm256_storeu_ps(c + 8 * v, _mm256_load_ps(buffer[r] + 8 * v));
    } else {
      for (int64_t j = 0; j < cols; ++j) c[j] = buffer[r][j];
    }
  }
}

}  // namespace

void small_gemm_avx2(int64_t M, int64_t N, int64_t K, const float* A, int64_t a_row, int64_t a_col,
                     const float* B, int64_t ldb, float* C, int64_t ldc) {
  for (int64_t j0 = 0; j0 < N; j0 += 16) {
    const int64_t cols = std::min<int64_t>(16, N - j0);
    for (int64_t i0 = 0; i0 < M; i0 += kRows) {
      const int64_t rows = std::min<int64_t>(kRows, M - i0);
      const float* a[kRows];
      for (int r = 0; r < kRows; ++r) a[r] = A + std::min<int64_t>(i0 + r, M - 1) * a_row;
      if (cols > 8)
        tile<2>(rows, cols, K, a, a_col, B + j0, ldb, C + i0 * ldc + j0, ldc);
      else
        tile<1>(rows, cols, K, a, a_col, B + j0, ldb, C + i0 * ldc + j0, ldc);
    }
  }
}

}  // namespace local
}  // namespace cnnnative
