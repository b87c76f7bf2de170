// Optional TF32 tensor-core SGEMM (sm_80+), off by default: inputs are rounded to TF32
// (10-bit mantissa) and multiplied on the tensor cores with float accumulation, as
// PyTorch's allow_tf32. Same contract as sgemm() in sgemm.cu.
//
// A block of 4 warps computes a 32 x 32 tile of C; each warp one 16 x 16 WMMA tile. Each
// K step of 8 stages a 32 x 8 slice of op(A) and an 8 x 32 slice of op(B) in shared memory
// (zero-padded at the edges, so any M, N, K works), and the result goes through shared
// memory so the alpha/beta/bias epilogue and the bounds checks are plain per-element code.
#include <mma.h>

#include "check.h"
#include "kernels.h"

namespace cnnnative {
namespace cuda {

namespace {

constexpr int kT = 32, kKStep = 8, kPadA = 12, kPadB = 36, kPadC = 36;

__global__ void __launch_bounds__(128)
    sgemm_tf32_kernel(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                      int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc,
                      GemmEpilogue epi, int64_t m_base) {
#if __CUDA_ARCH__ >= 800
  using namespace nvcuda;
  // WMMA pointers must be 256-bit aligned: the row strides and offsets used keep them so.
  __shared__ __align__(32) float As[kT][kPadA];
  __shared__ __align__(32) float Bs[kKStep][kPadB];
  __shared__ __align__(32) float Cs[kT][kPadC];
  const int tid = threadIdx.x, warp = tid / 32;
  const int wm = warp / 2, wn = warp % 2;
  const int64_t m0 = m_base + static_cast<int64_t>(blockIdx.y) * kT, n0 = static_cast<int64_t>(blockIdx.x) * kT;

  wmma::fragment<wmma::accumulator, 16, 16, 8, float> acc;
  wmma::fill_fragment(acc, 0.0f);
  for (int64_t k0 = 0; k0 < K; k0 += kKStep) {
    for (int e = tid; e < kT * kKStep; e += 128) {
      const int mm = e / kKStep, kk = e % kKStep;
      const int64_t m = m0 + mm, k = k0 + kk;
      As[mm][kk] = (m < M && k < K) ? (trans_a ? A[k * lda + m] : A[m * lda + k]) : 0.0f;
      const int kb = e / kT, nn = e % kT;
      const int64_t kq = k0 + kb, n = n0 + nn;
      Bs[kb][nn] = (n < N && kq < K) ? (trans_b ? B[n * ldb + kq] : B[kq * ldb + n]) : 0.0f;
    }
    __syncthreads();
    wmma::fragment<wmma::matrix_a, 16, 16, 8, wmma::precision::tf32, wmma::row_major> a;
    wmma::fragment<wmma::matrix_b, 16, 16, 8, wmma::precision::tf32, wmma::row_major> b;
    wmma::load_matrix_sync(a, &As[wm * 16][0], kPadA);
    wmma::load_matrix_sync(b, &Bs[0][wn * 16], kPadB);
    for (int i = 0; i < a.num_elements; ++i) a.x[i] = wmma::__float_to_tf32(a.x[i]);
    for (int i = 0; i < b.num_elements; ++i) b.x[i] = wmma::__float_to_tf32(b.x[i]);
    wmma::mma_sync(acc, a, b, acc);
    __syncthreads();
  }
  wmma::store_matrix_sync(&Cs[wm * 16][wn * 16], acc, kPadC, wmma::mem_row_major);
  __syncthreads();
  for (int e = tid; e < kT * kT; e += 128) {
    const int mm = e / kT, nn = e % kT;
    const int64_t m = m0 + mm, n = n0 + nn;
    if (m >= M || n >= N) continue;
    float out = alpha * Cs[mm][nn];
    if (beta != 0.0f) out += beta * C[m * ldc + n];
    if (epi.row_bias) out += epi.row_bias[m];
    if (epi.col_bias) out += epi.col_bias[n];
    C[m * ldc + n] = out < epi.lo ? epi.lo : (out > epi.hi ? epi.hi : out);  // NaN stays NaN
  }
#endif
}

}  // namespace

void sgemm_tf32(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc,
                const GemmEpilogue& epilogue) {
  if (M == 0 || N == 0) return;
  int device = 0, major = 0;
  CNC_CUDA_CHECK(cudaGetDevice(&device));
  CNC_CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device));
  if (major < 8) throw std::invalid_argument("TF32 GEMM needs a compute capability 8.0+ GPU");
  const int64_t tiles_n = (N + kT - 1) / kT, tiles_m = (M + kT - 1) / kT;
  if (tiles_n > 2147483647LL) throw std::invalid_argument("TF32 GEMM: N too large for one grid");
  // gridDim.y holds at most 65535 row tiles: more rows take several launches.
  for (int64_t t0 = 0; t0 < tiles_m; t0 += 65535) {
    const int64_t tm = tiles_m - t0 < 65535 ? tiles_m - t0 : 65535;
    sgemm_tf32_kernel<<<dim3(static_cast<unsigned>(tiles_n), static_cast<unsigned>(tm)), 128>>>(
        trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, epilogue, t0 * kT);
    check_launch("sgemm_tf32");
  }
}

}  // namespace cuda
}  // namespace cnnnative
