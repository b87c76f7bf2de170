// Thin matrix products for the im2col convolution (see im2col_small_gemm.h). Plain loops
// the compiler vectorises: the axpy form has no reduction, and the dot form keeps 16
// independent partial sums, so no reassociation is needed for either.
#include "conv/im2col_small_gemm.h"

#include <algorithm>

#include "cnnnative/isa.h"

namespace cnnnative {
namespace im2col {

void axpy_gemm(int64_t M, int64_t N, int64_t K, const float* A, int64_t a_row, int64_t a_col,
               const float* B, int64_t ldb, float* C, int64_t ldc, const float* row_bias) {
  constexpr int64_t kBlock = 1024;  // a block of C's row stays in L1 across the K axpys
  for (int64_t j0 = 0; j0 < N; j0 += kBlock) {
    const int64_t n = std::min(kBlock, N - j0);
    for (int64_t i = 0; i < M; ++i) {
      float* c = C + i * ldc + j0;
      const float b0 = row_bias ? row_bias[i] : 0.f;
      for (int64_t j = 0; j < n; ++j) c[j] = b0;
      for (int64_t k = 0; k < K; ++k) {
        const float a = A[i * a_row + k * a_col];
        const float* b = B + k * ldb + j0;
        for (int64_t j = 0; j < n; ++j) c[j] += a * b[j];
      }
    }
  }
}

void dot_gemm_nt_scalar(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda,
                        const float* B, int64_t ldb, float* C, int64_t ldc) {
  constexpr int kLanes = 16;
  for (int64_t i = 0; i < M; ++i) {
    const float* a = A + i * lda;
    for (int64_t j = 0; j < N; ++j) {
      const float* b = B + j * ldb;
      float part[kLanes] = {};
      int64_t k = 0;
      for (; k + kLanes <= K; k += kLanes)
        for (int l = 0; l < kLanes; ++l) part[l] += a[k + l] * b[k + l];
      float sum = 0.f;
      for (; k < K; ++k) sum += a[k] * b[k];
      for (int l = 0; l < kLanes; ++l) sum += part[l];
      C[i * ldc + j] += sum;
    }
  }
}

}  // namespace im2col
}  // namespace cnnnative

namespace cnnnative {
namespace im2col {

void dot_gemm_nt(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B,
                 int64_t ldb, float* C, int64_t ldc) {
  switch (active_isa()) {
    case Isa::avx512: return dot_gemm_nt_avx512(M, N, K, A, lda, B, ldb, C, ldc);
    case Isa::avx2: return dot_gemm_nt_avx2(M, N, K, A, lda, B, ldb, C, ldc);
    default: return dot_gemm_nt_scalar(M, N, K, A, lda, B, ldb, C, ldc);
  }
}

}  // namespace im2col
}  // namespace cnnnative
