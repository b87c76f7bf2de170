// SGEMM for linear layers: C = act(alpha * op(A) op(B) + beta * C + biases), row-major,
// through the tiled kernel of implicit_gemm.cuh with plain strided loaders. beta == 0 never
// reads C, so C may hold anything (NaN) beforehand.
#include "check.h"
#include "implicit_gemm.cuh"
#include "kernels.h"

namespace cnnnative {
namespace cuda {

namespace {

struct MatrixA {  // op(A)(m, k)
  const float* a;
  int64_t lda;
  bool trans;
  __device__ float operator()(int64_t, int64_t m, int64_t k) const { return trans ? a[k * lda + m] : a[m * lda + k]; }
  __device__ float4 a4(int64_t, int64_t m, int64_t k) const {  // only when !trans and aligned
    return *reinterpret_cast<const float4*>(a + m * lda + k);
  }
};

struct MatrixB {  // op(B)(k, n)
  const float* b;
  int64_t ldb;
  bool trans;
  __device__ float operator()(int64_t, int64_t k, int64_t n) const { return trans ? b[n * ldb + k] : b[k * ldb + n]; }
};

struct StoreC {
  float* c;
  int64_t ldc;
  float alpha, beta;
  GemmEpilogue e;
  __device__ void operator()(int64_t, int64_t m, int64_t n, float v) const {
    float out = alpha * v;
    if (beta != 0.0f) out += beta * c[m * ldc + n];
    if (e.row_bias) out += e.row_bias[m];
    if (e.col_bias) out += e.col_bias[n];
    // Clamp without fminf/fmaxf, which would turn NaN into a bound: NaN stays NaN.
    c[m * ldc + n] = out < e.lo ? e.lo : (out > e.hi ? e.hi : out);
  }
};

}  // namespace

void sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
           int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc,
           const GemmEpilogue& epilogue) {
  if (M == 0 || N == 0) return;
  const GemmGrid plan = plan_gemm_grid(M, N, K, 1, /*allow_split=*/false);
  MatrixA a{A, lda, trans_a};
  MatrixB b{B, ldb, trans_b};
  StoreC store{C, ldc, alpha, beta, epilogue};
  const bool vec4 = !trans_a && K % 4 == 0 && lda % 4 == 0 && reinterpret_cast<uintptr_t>(A) % 16 == 0;
  if (vec4)
    launch_implicit_gemm<true>(plan, M, N, K, a, b, store, "sgemm");
  else
    launch_implicit_gemm<false>(plan, M, N, K, a, b, store, "sgemm");
}

}  // namespace cuda
}  // namespace cnnnative
