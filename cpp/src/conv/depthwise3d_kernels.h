// The per-plane loops of the direct depthwise 3-D convolution (depthwise3d.cc), compiled
// once per ISA from depthwise3d_kernels_impl.h (plain loops the compiler vectorises with
// that ISA's flags; table_for_active_isa picks one at run time).
//
// Every kernel works on one channel of one image whose input (or input gradient) has
// been copied into a zero-padded plane, so the loops need no bounds checks: output
// (od, oh, ow) and tap (kt, kr, ks) meet padded input
//   (od*sd + kt*dd, oh*sh + kr*dh, ow*sw + ks*dw).
#pragma once
#include <cstdint>

namespace cnnnative {
namespace conv3d {

struct PlaneGeometry {
  int64_t OD, OH, OW;          // output
  int64_t T, R, S;             // kernel
  int64_t sd, sh, sw;          // stride
  int64_t dd, dh, dw;          // dilation
  int64_t HP, WP;              // padded plane height and width (the depth stride is HP*WP)
};

struct DepthwiseKernels {
  // y = bias + sum over taps of w[tap] * xp (y written, OD*OH*OW).
  void (*gather)(const PlaneGeometry& g, const float* xp, const float* w, float bias, float* y);
  // dxp += the adjoint of gather applied to dy (dxp: the padded plane, accumulated).
  void (*scatter)(const PlaneGeometry& g, const float* dy, const float* w, float* dxp);
  // dw[tap] += sum over outputs of dy * xp (float64 accumulators, T*R*S of them).
  void (*weight)(const PlaneGeometry& g, const float* xp, const float* dy, double* dw);
};

const DepthwiseKernels& depthwise_kernels_scalar();
const DepthwiseKernels& depthwise_kernels_avx2();
const DepthwiseKernels& depthwise_kernels_avx512();

}  // namespace conv3d
}  // namespace cnnnative
