// AVX-512 C[M x N] += A[M x K] * B[N x K]^T for the weight gradient (see
// im2col_small_gemm.h): both operands are read along their contiguous rows, 4 rows of A
// by 4 rows of B at a time, 16 accumulators of 16 lanes; the K tail is a lane mask.
// K is walked in blocks so the 8 rows being read stay in L1.
#include <immintrin.h>

#include <algorithm>

#include "conv/im2col_small_gemm.h"

namespace cnnnative {
namespace im2col {

void dot_gemm_nt_avx512(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda,
                        const float* B, int64_t ldb, float* C, int64_t ldc) {
  constexpr int64_t kKBlock = 1024;  // 8 rows x 4 KiB = 32 KiB, within L1
  for (int64_t k0 = 0; k0 < K; k0 += kKBlock) {
    const int64_t kn = std::min(kKBlock, K - k0);
    const int64_t full = kn & ~int64_t(15);
    const __mmask16 tail = static_cast<__mmask16>((1u << (kn - full)) - 1u);
    for (int64_t i0 = 0; i0 < M; i0 += 4) {
      // Rows past the edge repeat the last row (computed, never stored).
      const float* a[4];
      for (int r = 0; r < 4; ++r) a[r] = A + std::min(i0 + r, M - 1) * lda + k0;
      for (int64_t j0 = 0; j0 < N; j0 += 4) {
        const float* b[4];
        for (int c = 0; c < 4; ++c) b[c] = B + std::min(j0 + c, N - 1) * ldb + k0;
        __m512 acc[4][4];
        for (int r = 0; r < 4; ++r)
          for (int c = 0; c < 4; ++c) acc[r][c] = _mm512_setzero_ps();
        for (int64_t k = 0; k < full; k += 16) {
          __m512 bv[4];
          for (int c = 0; c < 4; ++c) bv[c] = _mm512_loadu_ps(b[c] + k);
          for (int r = 0; r < 4; ++r) {
            const __m512 av = _mm512_loadu_ps(a[r] + k);
            for (int c = 0; c < 4; ++c) acc[r][c] = _mm512_fmadd_ps(av, bv[c], acc[r][c]);
          }
        }
        if (tail) {
          __m512 bv[4];
          for (int c = 0; c < 4; ++c) bv[c] = _mm512_maskz_loadu_ps(tail, b[c] + full);
          for (int r = 0; r < 4; ++r) {
            const __m512 av = _mm512_maskz_loadu_ps(tail, a[r] + full);
            for (int c = 0; c < 4; ++c) acc[r][c] = _mm512_fmadd_ps(av, bv[c], acc[r][c]);
          }
        }
        const int rows = static_cast<int>(std::min<int64_t>(4, M - i0));
        const int cols = static_cast<int>(std::min<int64_t>(4, N - j0));
        for (int r = 0; r < rows; ++r)
          for (int c = 0; c < cols; ++c) C[(i0 + r) * ldc + j0 + c] += _mm512_reduce_add_ps(acc[r][c]);
      }
    }
  }
}

}  // namespace im2col
}  // namespace cnnnative
