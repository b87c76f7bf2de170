// PLACEHOLDER driver: plain loops, to be replaced by the packed, blocked GEMM.
#include <omp.h>

#include "cnnnative/gemm.h"
#include "cnnnative/threads.h"

namespace cnnnative {

static void gemm_rows(bool ta, bool tb, int64_t m0, int64_t m1, int64_t N, int64_t K, float alpha,
                      const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
                      int64_t ldc) {
  for (int64_t i = m0; i < m1; ++i) {
    float* c = C + i * ldc;
    for (int64_t j = 0; j < N; ++j) c[j] = beta == 0.f ? 0.f : beta * c[j];
    for (int64_t k = 0; k < K; ++k) {
      const float a = alpha * (ta ? A[k * lda + i] : A[i * lda + k]);
      if (tb) {
        for (int64_t j = 0; j < N; ++j) c[j] += a * B[j * ldb + k];
      } else {
        const float* b = B + k * ldb;
        for (int64_t j = 0; j < N; ++j) c[j] += a * b[j];
      }
    }
  }
}

void sgemm_single_thread(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha,
                         const float* A, int64_t lda, const float* B, int64_t ldb, float beta,
                         float* C, int64_t ldc) {
  gemm_rows(ta, tb, 0, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void sgemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
           int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
#pragma omp parallel for num_threads(num_threads()) schedule(static)
  for (int64_t i = 0; i < M; ++i) gemm_rows(ta, tb, i, i + 1, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

}  // namespace cnnnative
