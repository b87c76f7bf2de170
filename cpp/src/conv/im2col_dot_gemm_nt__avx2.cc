// AVX2 C[M x N] += A[M x K] * B[N x K]^T (see im2col_small_gemm.h): 2 rows of A by 4 rows
// of B at a time (8 accumulators + 6 operands fit the 16 ymm registers); K tail scalar.
#include <immintrin.h>

#include <algorithm>

#include "conv/im2col_small_gemm.h"

namespace cnnnative {
namespace im2col {
namespace {

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

}  // namespace

void dot_gemm_nt_avx2(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda,
                      const float* B, int64_t ldb, float* C, int64_t ldc) {
  constexpr int64_t kKBlock = 1024;
  for (int64_t k0 = 0; k0 < K; k0 += kKBlock) {
    const int64_t kn = std::min(kKBlock, K - k0);
    const int64_t full = kn & ~int64_t(7);
    for (int64_t i0 = 0; i0 < M; i0 += 2) {
      const float* a[2];
      for (int r = 0; r < 2; ++r) a[r] = A + std::min(i0 + r, M - 1) * lda + k0;
      for (int64_t j0 = 0; j0 < N; j0 += 4) {
        const float* b[4];
        for (int c = 0; c < 4; ++c) b[c] = B + std::min(j0 + c, N - 1) * ldb + k0;
        __m256 acc[2][4];
        for (int r = 0; r < 2; ++r)
          for (int c = 0; c < 4; ++c) acc[r][c] = _mm256_setzero_ps();
        for (int64_t k = 0; k < full; k += 8) {
          __m256 bv[4];
          for (int c = 0; c < 4; ++c) bv[c] = _mm256_loadu_ps(b[c] + k);
          for (int r = 0; r < 2; ++r) {
            const __m256 av = _mm256_loadu_ps(a[r] + k);
            for (int c = 0; c < 4; ++c) acc[r][c] = _mm256_fmadd_ps(av, bv[c], acc[r][c]);
          }
        }
        const int rows = static_cast<int>(std::min<int64_t>(2, M - i0));
        const int cols = static_cast<int>(std::min<int64_t>(4, N - j0));
        for (int r = 0; r < rows; ++r) {
          for (int c = 0; c < cols; ++c) {
            float s = hsum(acc[r][c]);
            for (int64_t k = full; k < kn; ++k) s += a[r][k] * b[c][k];
            C[(i0 + r) * ldc + j0 + c] += s;
          }
        }
      }
    }
  }
}

}  // namespace im2col
}  // namespace cnnnative
