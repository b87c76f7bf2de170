// Weight gradient of convolution as an implicit GEMM (see implicit_gemm.cuh), per group g:
//   dw[g*Kg + k, c, r, s] = sum_{n, oh, ow} dy[n, g*Kg + k, oh, ow] * x[n, g*Cg + c, ih, iw]
// M = Kg, N = Cg * R * S, K = batch * OH * OW. K is long and M*N small, so the sum is split
// into chunks (split-K) whose partial results are added atomically into a zeroed dw.
// Also the per-channel sum used for bias gradients.
#include <cuda_runtime.h>

#include "check.h"
#include "cnnnative/errors.h"
#include "conv_geometry.cuh"
#include "implicit_gemm.cuh"
#include "kernels.h"

namespace cnnnative {
namespace cuda {

namespace {

struct OutputGradRows {  // A(g, m = k, q = (img, oh, ow)) = dy[img, g*Kg + k, oh, ow]
  const float* dy;
  ConvGeometry p;
  __device__ float operator()(int64_t g, int64_t k, int64_t q) const {
    const int64_t OHW = p.OH * p.OW;
    const int64_t img = q / OHW, pix = q % OHW;
    return dy[(img * p.K + g * p.Kg + k) * OHW + pix];
  }
};

struct InputTaps {  // B(g, q = (img, oh, ow), n = (c, r, s))
  const float* x;
  ConvGeometry p;
  __device__ float operator()(int64_t g, int64_t q, int64_t n) const {
    const int64_t RS = p.R * p.S;
    const int64_t c = n / RS, rs = n % RS, r = rs / p.S, s = rs % p.S;
    const int64_t OHW = p.OH * p.OW;
    const int64_t img = q / OHW, pix = q % OHW, oh = pix / p.OW, ow = pix % p.OW;
    const int64_t ih = oh * p.sh - p.pt + r * p.dh, iw = ow * p.sw - p.pl + s * p.dw;
    if (ih < 0 || ih >= p.H || iw < 0 || iw >= p.W) return 0.0f;
    return x[((img * p.C + g * p.Cg + c) * p.H + ih) * p.W + iw];
  }
};

struct StoreWeightGrad {
  float* dw;
  int64_t Kg, CRS;
  bool accumulate;  // split-K: several blocks add into the same element
  __device__ void operator()(int64_t g, int64_t k, int64_t n, float v) const {
    float* out = dw + (g * Kg + k) * CRS + n;
    if (accumulate)
      atomicAdd(out, v);
    else
      *out = v;
  }
};

__global__ void channel_sum_kernel(const float* dy, float* db, int64_t N, int64_t C, int64_t HW) {
  // One block per channel; double accumulation keeps long sums accurate.
  const int64_t c = blockIdx.x;
  double sum = 0.0;
  const int64_t count = N * HW;
  for (int64_t j = threadIdx.x; j < count; j += blockDim.x) {
    const int64_t n = j / HW, i = j % HW;
    sum += dy[(n * C + c) * HW + i];
  }
  __shared__ double partial[256];
  partial[threadIdx.x] = sum;
  __syncthreads();
  for (int stride = blockDim.x / 2; stride > 0; stride /= 2) {
    if (threadIdx.x < stride) partial[threadIdx.x] += partial[threadIdx.x + stride];
    __syncthreads();
  }
  if (threadIdx.x == 0) db[c] = static_cast<float>(partial[0]);
}

}  // namespace

void conv2d_backward_weight(const ConvParams& params, const float* x, const float* dy, float* dw) {
  const ConvGeometry p = ConvGeometry::from(params);
  const int64_t M = p.Kg, N = p.Cg * p.R * p.S, K = p.N * p.OH * p.OW;
  if (M == 0 || N == 0) return;
  const GemmGrid plan = plan_gemm_grid(M, N, K, params.groups, /*allow_split=*/true);
  const bool accumulate = plan.splits > 1 || K == 0;
  if (accumulate)
    CNC_CUDA_CHECK(cudaMemsetAsync(dw, 0, static_cast<size_t>(params.K * N) * sizeof(float)));
  if (K == 0) return;  // empty batch: the gradient is zero
  launch_implicit_gemm<false>(plan, M, N, K, OutputGradRows{dy, p}, InputTaps{x, p},
                              StoreWeightGrad{dw, p.Kg, N, accumulate}, "conv2d_backward_weight (implicit GEMM)");
}

void channel_sum(const float* dy, float* db, int64_t N, int64_t C, int64_t HW) {
  if (C == 0) return;
  CN_CHECK(C <= 2147483647LL, "channel_sum: too many channels (", C, ")");
  channel_sum_kernel<<<static_cast<unsigned>(C), 256>>>(dy, db, N, C, HW);
  check_launch("channel_sum");
}

}  // namespace cuda
}  // namespace cnnnative
