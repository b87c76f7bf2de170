// The active ISA's small_gemm (see small_gemm.h).
#include "local/small_gemm.h"

#include "cnnnative/isa.h"

namespace cnnnative {
namespace local {

void small_gemm(int64_t M, int64_t N, int64_t K, const float* A, int64_t a_row, int64_t a_col, const float* B,
                int64_t ldb, float* C, int64_t ldc) {
  if (active_isa() == Isa::scalar) return small_gemm_scalar(M, N, K, A, a_row, a_col, B, ldb, C, ldc);
  small_gemm_avx2(M, N, K, A, a_row, a_col, B, ldb, C, ldc);  // AVX-512 machines run AVX2
}

}  // namespace local
}  // namespace cnnnative
