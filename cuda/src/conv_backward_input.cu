// Input gradient of convolution as an implicit GEMM (see implicit_gemm.cuh), per group g:
//   dx[n, g*Cg + c, h, w] = sum_{k, r, s} w[g*Kg + k, c, r, s] * dy[n, g*Kg + k, oh, ow]
// over the (oh, ow) with oh*sh = h + pt - r*dh and ow*sw = w + pl - s*dw exactly.
// M = Cg input channels, N = batch * H * W input pixels, K = Kg * R * S. Every dx element is
// written once (no atomics, no zeroing).
#include "check.h"
#include "conv_geometry.cuh"
#include "implicit_gemm.cuh"
#include "kernels.h"

namespace cnnnative {
namespace cuda {

namespace {

struct WeightColumns {  // A(g, m = c, q = (k, r, s)) = w[g*Kg + k, c, r, s]
  const float* w;
  ConvGeometry p;
  __device__ float operator()(int64_t g, int64_t c, int64_t q) const {
    const int64_t RS = p.R * p.S;
    const int64_t k = q / RS, rs = q % RS;
    return w[((g * p.Kg + k) * p.Cg + c) * RS + rs];
  }
};

struct OutputGradTaps {  // B(g, q = (k, r, s), n = (img, h, w))
  const float* dy;
  ConvGeometry p;
  __device__ float operator()(int64_t g, int64_t q, int64_t n) const {
    const int64_t RS = p.R * p.S;
    const int64_t k = q / RS, rs = q % RS, r = rs / p.S, s = rs % p.S;
    const int64_t HW = p.H * p.W;
    const int64_t img = n / HW, pix = n % HW, h = pix / p.W, w = pix % p.W;
    const int64_t th = h + p.pt - r * p.dh, tw = w + p.pl - s * p.dw;
    if (th < 0 || tw < 0 || th % p.sh != 0 || tw % p.sw != 0) return 0.0f;
    const int64_t oh = th / p.sh, ow = tw / p.sw;
    if (oh >= p.OH || ow >= p.OW) return 0.0f;
    return dy[((img * p.K + g * p.Kg + k) * p.OH + oh) * p.OW + ow];
  }
};

struct StoreInputGrad {
  float* dx;
  ConvGeometry p;
  __device__ void operator()(int64_t g, int64_t c, int64_t n, float v) const {
    const int64_t HW = p.H * p.W;
    const int64_t img = n / HW, pix = n % HW;
    dx[(img * p.C + g * p.Cg + c) * HW + pix] = v;
  }
};

}  // namespace

void conv2d_backward_input(const ConvParams& params, const float* w, const float* dy, float* dx) {
  const ConvGeometry p = ConvGeometry::from(params);
  const int64_t M = p.Cg, N = p.N * p.H * p.W, K = p.Kg * p.R * p.S;
  if (M == 0 || N == 0) return;
  const GemmGrid plan = plan_gemm_grid(M, N, K, params.groups, /*allow_split=*/false);
  launch_implicit_gemm<false>(plan, M, N, K, WeightColumns{w, p}, OutputGradTaps{dy, p}, StoreInputGrad{dx, p},
                              "conv2d_backward_input (implicit GEMM)");
}

}  // namespace cuda
}  // namespace cnnnative
