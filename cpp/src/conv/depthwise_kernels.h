// Per-plane kernels of the direct depthwise convolution, one table per ISA.
// depthwise_kernels_impl.h holds the code; depthwise_kernels.cc / __avx2.cc /
// __avx512.cc compile it with their flags.
#pragma once
#include <cstdint>

#include "cnnnative/conv_params.h"
#include "cnnnative/isa.h"

namespace cnnnative {
namespace depthwise {

// y_plane[OH,OW] = bias + sum_{r,s} w[r,s] * x_plane[oh*sh - pt + r*dh, ow*sw - pl + s*dw].
using ForwardPlaneFn = void (*)(const ConvParams& p, const float* x_plane, const float* w, float bias,
                                float* y_plane);
// dx_plane[H,W] += sum over the kernel taps of w[r,s] * dy_plane (the transpose of forward).
using BackwardInputPlaneFn = void (*)(const ConvParams& p, const float* dy_plane, const float* w,
                                      float* dx_plane);
// dw[r,s] += sum_{oh,ow} dy_plane[oh,ow] * x_plane[ih, iw].
using BackwardWeightPlaneFn = void (*)(const ConvParams& p, const float* x_plane, const float* dy_plane,
                                       float* dw);

struct Kernels {
  ForwardPlaneFn forward;
  BackwardInputPlaneFn backward_input;
  BackwardWeightPlaneFn backward_weight;
};

const Kernels& kernels_scalar();
const Kernels& kernels_avx2();
const Kernels& kernels_avx512();

inline const Kernels& kernels_for(Isa isa) {
  return isa == Isa::avx512 ? kernels_avx512() : isa == Isa::avx2 ? kernels_avx2() : kernels_scalar();
}

// Output columns [lo, hi) whose input column ow*stride + offset lies in [0, W).
inline void valid_range(int64_t OW, int64_t W, int64_t stride, int64_t offset, int64_t* lo, int64_t* hi) {
  // ow*stride + offset >= 0  <=>  ow >= ceil(-offset / stride)
  int64_t l = offset >= 0 ? 0 : (-offset + stride - 1) / stride;
  // ow*stride + offset <= W-1  <=>  ow <= floor((W-1-offset) / stride)
  int64_t h = (W - 1 - offset) < 0 ? 0 : (W - 1 - offset) / stride + 1;
  *lo = l < OW ? l : OW;
  *hi = h < OW ? h : OW;
  if (*hi < *lo) *hi = *lo;
}

}  // namespace depthwise
}  // namespace cnnnative
