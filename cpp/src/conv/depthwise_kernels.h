// Per-plane kernels of the direct depthwise convolution, one table per ISA.
// depthwise_kernels_impl.h holds the code; depthwise_kernels.cc / __avx2.cc /
// __avx512.cc compile it with their flags.
#pragma once
#include <algorithm>
#include <cstdint>

#include "cnnnative/conv_params.h"
#include "cnnnative/isa.h"

namespace cnnnative {
namespace depthwise {

// y_plane[OH,OW] = bias + sum_{r,s} w[r,s] * x_plane[oh*sh - pt + r*dh, ow*sw - pl + s*dw].
// padded: scratch of padded_plane_floats(p) floats (the stride-1 path copies the plane
// there with its zero border, so every output pixel runs the same vector code).
// act: 0, or the engine's fused activation (1 ReLU, 2 ReLU6; see PlaneEpilogueFn).
using ForwardPlaneFn = void (*)(const ConvParams& p, const float* x_plane, const float* w, float bias,
                                float* y_plane, float* padded, int act);

// Row stride of that copy: room for up to 16 leading floats (so the image starts
// 64-byte aligned), the padded row, and 16 trailing zeros; a multiple of 16.
inline int64_t padded_row_floats(const ConvParams& p) {
  return (p.W + p.pad_left + p.pad_right + 32 + 15) / 16 * 16;
}
// The stride-2 kernel's copy keeps each padded row as its even columns, then its odd
// columns, each half with 16 floats of zeros after it (a 16-lane vector starting at any
// output of the row stays inside its half for kernels up to 33 columns wide).
inline int64_t split_half_floats(const ConvParams& p) {
  return ((p.W + p.pad_left + p.pad_right + 1) / 2 + 16 + 15) / 16 * 16;
}
inline int64_t padded_plane_floats(const ConvParams& p) {
  const int64_t PH = p.H + p.pad_top + p.pad_bottom, P = p.W + p.pad_left + p.pad_right;
  const int64_t OH = p.output_h();
  // The narrow-plane path (AVX-512, OW < 16) needs its flat padded copy (+48 floats of
  // zeros, rounded to 16) and the flat outputs.
  const int64_t flat = (PH * P + 48 + 15) / 16 * 16 + OH * P + 16;
  const int64_t split = PH * 2 * split_half_floats(p);
  return (std::max({PH * padded_row_floats(p), flat, split}) + 15) / 16 * 16;  // each thread's share stays 64-byte aligned
}
// dx_plane[H,W] += sum over the kernel taps of w[r,s] * dy_plane (the transpose of forward).
using BackwardInputPlaneFn = void (*)(const ConvParams& p, const float* dy_plane, const float* w,
                                      float* dx_plane);
// dw[r,s] += sum_{oh,ow} dy_plane[oh,ow] * x_plane[ih, iw]. scratch: padded_plane_floats(p)
// floats, 64-byte aligned (the AVX-512 3x3 stride-1 path lays x and dy out flat there).
using BackwardWeightPlaneFn = void (*)(const ConvParams& p, const float* x_plane, const float* dy_plane,
                                       float* dw, float* scratch);

// y[i] = act(y[i] + residual[i]) for i < n (residual may be null); act 0 none, 1 relu,
// 2 relu6 (the values of both Activation enums). The engine's fused epilogue, run on each
// plane right after forward while it is in cache.
using PlaneEpilogueFn = void (*)(float* y, const float* residual, int64_t n, int act);

struct Kernels {
  ForwardPlaneFn forward;
  BackwardInputPlaneFn backward_input;
  BackwardWeightPlaneFn backward_weight;
  PlaneEpilogueFn epilogue;
};

const Kernels& kernels_scalar();
const Kernels& kernels_avx2();
const Kernels& kernels_avx512();

inline const Kernels& kernels_for(Isa isa) {
  return isa == Isa::avx512 ? kernels_avx512() : isa == Isa::avx2 ? kernels_avx2() : kernels_scalar();
}

}  // namespace depthwise
}  // namespace cnnnative
