// Portable small_gemm (see small_gemm.h): rows of C built by adding a(i, k) * B[k][:].
#include <algorithm>

#include "local/small_gemm.h"

namespace cnnnative {
namespace local {

void small_gemm_scalar(int64_t M, int64_t N, int64_t K, const float* A, int64_t a_row, int64_t a_col,
                       const float* B, int64_t ldb, float* C, int64_t ldc) {
  for (int64_t i = 0; i < M; ++i) {
    float* c = C + i * ldc;
    std::fill(c, c + N, 0.f);
    for (int64_t k = 0; k < K; ++k) {
      const float a = A[i * a_row + k * a_col];
      const float* b = B + k * ldb;
      for (int64_t j = 0; j < N; ++j) c[j] += a * b[j];
    }
  }
}

}  // namespace local
}  // namespace cnnnative
