// Depthwise convolution (groups == C, K = C * multiplier) by direct kernels: forward and
// input gradient one thread per element, weight gradient one block per weight tap. Each
// output reads one R x S window of one input channel, which the implicit GEMM would
// handle with 63/64 of every tile empty.
#include "check.h"
#include "cnnnative/errors.h"
#include "conv_geometry.cuh"
#include "kernels.h"
#include "reduce.cuh"

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

// dx[n, c, h, w] = sum over the multiplier's output channels k of c and taps (r, s) with
// oh*sh = h + pt - r*dh (and likewise for w) of w[k, 0, r, s] * dy[n, k, oh, ow].
__global__ void depthwise_backward_input_kernel(const float* __restrict__ w, const float* __restrict__ dy,
                                                float* __restrict__ dx, ConvGeometry p, int64_t total) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t x_w = i % p.W;
    const int64_t x_h = (i / p.W) % p.H;
    const int64_t c = (i / (p.W * p.H)) % p.C;
    const int64_t img = i / (p.W * p.H * p.C);
    float acc = 0.0f;
    for (int64_t k = c * p.Kg; k < (c + 1) * p.Kg; ++k) {
      const float* g = dy + (img * p.K + k) * p.OH * p.OW;
      const float* taps = w + k * p.R * p.S;
      for (int64_t r = 0; r < p.R; ++r) {
        const int64_t th = x_h + p.pt - r * p.dh;
        if (th < 0 || th % p.sh != 0 || th / p.sh >= p.OH) continue;
        for (int64_t s = 0; s < p.S; ++s) {
          const int64_t tw = x_w + p.pl - s * p.dw;
          if (tw < 0 || tw % p.sw != 0 || tw / p.sw >= p.OW) continue;
          acc = fmaf(taps[r * p.S + s], g[(th / p.sh) * p.OW + tw / p.sw], acc);
        }
      }
    }
    dx[i] = acc;
  }
}

// One block per weight element (k, r, s): sum over n, oh, ow of dy[n, k, oh, ow] * x[n, c, ih, iw].
__global__ void depthwise_backward_weight_kernel(const float* __restrict__ x, const float* __restrict__ dy,
                                                 float* __restrict__ dw, ConvGeometry p) {
  __shared__ float scratch[kReduceThreads];
  const int64_t tap = blockIdx.x;  // k * R * S + r * S + s
  const int64_t k = tap / (p.R * p.S), r = (tap / p.S) % p.R, s = tap % p.S, c = k / p.Kg;
  const int64_t count = p.N * p.OH * p.OW;
  float acc = 0.0f;
  for (int64_t j = threadIdx.x; j < count; j += kReduceThreads) {
    const int64_t ow = j % p.OW, oh = (j / p.OW) % p.OH, img = j / (p.OW * p.OH);
    const int64_t ih = oh * p.sh - p.pt + r * p.dh, iw = ow * p.sw - p.pl + s * p.dw;
    if (ih < 0 || ih >= p.H || iw < 0 || iw >= p.W) continue;
    acc = fmaf(dy[((img * p.K + k) * p.OH + oh) * p.OW + ow], x[((img * p.C + c) * p.H + ih) * p.W + iw], acc);
  }
  acc = block_sum(acc, scratch);
  if (threadIdx.x == 0) dw[tap] = acc;
}

}  // namespace

bool depthwise_applies(const ConvParams& p) { return p.groups == p.C && p.groups > 1; }

void conv2d_depthwise_backward_input(const ConvParams& params, const float* w, const float* dy, float* dx) {
  CN_CHECK(depthwise_applies(params), "depthwise convolution needs groups == C > 1, got ", params.to_string());
  const ConvGeometry p = ConvGeometry::from(params);
  const int64_t total = p.N * p.C * p.H * p.W;
  if (total == 0) return;
  depthwise_backward_input_kernel<<<blocks_for(total, 256), 256>>>(w, dy, dx, p, total);
  check_launch("conv2d_depthwise_backward_input");
}

void conv2d_depthwise_backward_weight(const ConvParams& params, const float* x, const float* dy, float* dw) {
  CN_CHECK(depthwise_applies(params), "depthwise convolution needs groups == C > 1, got ", params.to_string());
  const ConvGeometry p = ConvGeometry::from(params);
  const int64_t taps = p.K * p.R * p.S;
  if (taps == 0) return;
  CN_CHECK(taps <= 2147483647LL, "depthwise weight gradient: too many weights (", taps, ")");
  depthwise_backward_weight_kernel<<<static_cast<unsigned>(taps), kReduceThreads>>>(x, dy, dw, p);
  check_launch("conv2d_depthwise_backward_weight");
}

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
