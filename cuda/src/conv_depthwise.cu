// Depthwise convolution (groups == C, K = C * multiplier): a direct kernel, one thread per
// output element. Each output reads one R x S window of one input channel, which the
// implicit GEMM would handle with 63/64 of every tile empty.
#include "check.h"
#include "cnnnative/errors.h"
#include "conv_geometry.cuh"
#include "kernels.h"

namespace cnnnative {
namespace cuda {

namespace {

__global__ void depthwise_forward_kernel(const float* __restrict__ x, const float* __restrict__ w,
                                         const float* __restrict__ bias, float* __restrict__ y,
                                         ConvGeometry p, int64_t total) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t ow = i % p.OW;
    const int64_t oh = (i / p.OW) % p.OH;
    const int64_t k = (i / (p.OW * p.OH)) % p.K;
    const int64_t img = i / (p.OW * p.OH * p.K);
    const int64_t c = k / p.Kg;  // Cg == 1: output channel k reads input channel k / multiplier
    const float* plane = x + (img * p.C + c) * p.H * p.W;
    const float* taps = w + k * p.R * p.S;
    float acc = bias ? bias[k] : 0.0f;
    for (int64_t r = 0; r < p.R; ++r) {
      const int64_t ih = oh * p.sh - p.pt + r * p.dh;
      if (ih < 0 || ih >= p.H) continue;
      for (int64_t s = 0; s < p.S; ++s) {
        const int64_t iw = ow * p.sw - p.pl + s * p.dw;
        if (iw < 0 || iw >= p.W) continue;
        acc = fmaf(taps[r * p.S + s], plane[ih * p.W + iw], acc);
      }
    }
    y[i] = acc;
  }
}

}  // namespace

void conv2d_depthwise_forward(const ConvParams& params, const float* x, const float* w, const float* bias,
                              float* y) {
  CN_CHECK(params.groups == params.C, "depthwise convolution needs groups == C, got ", params.to_string());
  const ConvGeometry p = ConvGeometry::from(params);
  const int64_t total = p.N * p.K * p.OH * p.OW;
  if (total == 0) return;
  depthwise_forward_kernel<<<blocks_for(total, 256), 256>>>(x, w, bias, y, p, total);
  check_launch("conv2d_depthwise_forward");
}

}  // namespace cuda
}  // namespace cnnnative
