// Convolution forward as an implicit GEMM (see implicit_gemm.cuh), per group g:
//   y[n, g*Kg + m, oh, ow] = bias + sum_{c, r, s} w[g*Kg + m, c, r, s] * x[n, g*Cg + c, ih, iw]
// M = Kg output channels, N = batch * OH * OW output pixels, K = Cg * R * S.
// The weight rows are contiguous in k, so A is read with float4 loads when aligned.
#include "check.h"
#include "conv_geometry.cuh"
#include "implicit_gemm.cuh"
#include "kernels.h"

namespace cnnnative {
namespace cuda {

namespace {

struct WeightRows {  // A(g, m, k) = w[(g*Kg + m) * CRS + k]
  const float* w;
  int64_t Kg, CRS;
  __device__ float operator()(int64_t g, int64_t m, int64_t k) const { return w[(g * Kg + m) * CRS + k]; }
  __device__ float4 a4(int64_t g, int64_t m, int64_t k) const {
    return *reinterpret_cast<const float4*>(w + (g * Kg + m) * CRS + k);
  }
};

struct InputPatches {  // B(g, k, n): the input value under weight tap k for output pixel n
  const float* x;
  ConvGeometry p;
  __device__ float operator()(int64_t g, int64_t k, int64_t n) const {
    const int64_t RS = p.R * p.S;
    const int64_t c = k / RS, rs = k % RS, r = rs / p.S, s = rs % p.S;
    const int64_t OHW = p.OH * p.OW;
    const int64_t img = n / OHW, pix = n % OHW, oh = pix / p.OW, ow = pix % p.OW;
    const int64_t ih = oh * p.sh - p.pt + r * p.dh, iw = ow * p.sw - p.pl + s * p.dw;
    if (ih < 0 || ih >= p.H || iw < 0 || iw >= p.W) return 0.0f;
    return x[((img * p.C + g * p.Cg + c) * p.H + ih) * p.W + iw];
  }
};

struct StoreOutput {
  float* y;
  const float* bias;
  ConvGeometry p;
  __device__ void operator()(int64_t g, int64_t m, int64_t n, float v) const {
    const int64_t OHW = p.OH * p.OW;
    const int64_t img = n / OHW, pix = n % OHW, k = g * p.Kg + m;
    y[(img * p.K + k) * OHW + pix] = v + (bias ? bias[k] : 0.0f);
  }
};

}  // namespace

void conv2d_forward(const ConvParams& params, const float* x, const float* w, const float* bias, float* y) {
  const ConvGeometry p = ConvGeometry::from(params);
  const int64_t M = p.Kg, N = p.N * p.OH * p.OW, K = p.Cg * p.R * p.S;
  if (M == 0 || N == 0) return;
  const GemmGrid plan = plan_gemm_grid(M, N, K, params.groups, /*allow_split=*/false);
  WeightRows a{w, p.Kg, K};
  InputPatches b{x, p};
  StoreOutput store{y, bias, p};
  const bool vec4 = K % 4 == 0 && reinterpret_cast<uintptr_t>(w) % 16 == 0;
  if (vec4)
    launch_implicit_gemm<true>(plan, M, N, K, a, b, store, "conv2d_forward (implicit GEMM)");
  else
    launch_implicit_gemm<false>(plan, M, N, K, a, b, store, "conv2d_forward (implicit GEMM)");
}

}  // namespace cuda
}  // namespace cnnnative
