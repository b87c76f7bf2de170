// Depthwise kernels, written once and compiled per ISA (include only from the
// depthwise_kernels*.cc files, after defining DEPTHWISE_ISA_NS): the helpers they share
// here, the forward kernels in depthwise_forward_impl.h, the backward ones in
// depthwise_backward_impl.h, then the engine's epilogue and this ISA's table.
#include "depthwise_kernels.h"
#include "core/int_math.h"

#include <cmath>
#include <cstring>
#include <type_traits>

#if defined(__AVX2__)
#include <immintrin.h>
#endif

#ifndef DEPTHWISE_ISA_NS
#error "define DEPTHWISE_ISA_NS before including depthwise_kernels_impl.h"
#endif

namespace cnnnative {
namespace depthwise {
namespace DEPTHWISE_ISA_NS {

// Helpers live in this ISA's namespace: an inline function from a shared header,
// compiled here with this ISA's flags, could be the copy the linker keeps for everyone.
inline int64_t out_h(const ConvParams& p) {
  return (p.H + p.pad_top + p.pad_bottom - p.dilation_h * (p.R - 1) - 1) / p.stride_h + 1;
}
inline int64_t out_w(const ConvParams& p) {
  return (p.W + p.pad_left + p.pad_right - p.dilation_w * (p.S - 1) - 1) / p.stride_w + 1;
}

// Output columns [lo, hi) whose input column ow*stride + offset lies in [0, W).
inline void valid_range(int64_t OW, int64_t W, int64_t stride, int64_t offset, int64_t* lo, int64_t* hi) {
  // ow*stride + offset >= 0  <=>  ow >= ceil(-offset / stride)
  int64_t l = offset >= 0 ? 0 : ceil_div(-offset, stride);
  // ow*stride + offset <= W-1  <=>  ow <= floor((W-1-offset) / stride)
  int64_t h = (W - 1 - offset) < 0 ? 0 : (W - 1 - offset) / stride + 1;
  *lo = l < OW ? l : OW;
  *hi = h < OW ? h : OW;
  if (*hi < *lo) *hi = *lo;
}

// 16 floats as one value (GCC vector extension): the portable kernels use it, and the
// compiler maps it to one zmm, two ymm or four xmm registers by the ISA of the file.
typedef float v16 __attribute__((vector_size(64)));
typedef float v16u __attribute__((vector_size(64), aligned(4)));

#if defined(__AVX512F__)
// Lanes of a 16-wide load at column `col` that lie inside [0, W) (masked loads read the
// rest as zero and never fault).
inline __mmask16 inside_mask(int64_t col, int64_t W) {
  const int64_t lo = col < 0 ? -col : 0, hi = W - col < 16 ? W - col : 16;
  if (hi <= lo) return 0;
  return static_cast<__mmask16>(((1u << hi) - 1u) & ~((1u << lo) - 1u));
}

// The input rows a band reads, from input row `first` on: rows outside the image point at
// `zero` (W zeros).
inline void band_rows(const ConvParams& p, const float* x, float* zero, int64_t first, int64_t count,
                      const float** rows) {
  for (int64_t i = 0; i < count; ++i) {
    const int64_t ih = first + i;
    rows[i] = ih >= 0 && ih < p.H ? x + ih * p.W : zero;
  }
}
#endif

// The flat layout of the narrow-plane kernels: the zero-padded plane with row pitch
// P = W + pad_left + pad_right, and zeros after it for the vector reads past its end.
inline int64_t flat_input_floats(const ConvParams& p) {
  const int64_t P = p.W + p.pad_left + p.pad_right, PH = p.H + p.pad_top + p.pad_bottom;
  return (PH * P + 48 + 15) / 16 * 16;  // reads run up to 32 floats past the image
}

inline void flat_copy_input(const ConvParams& p, const float* x, float* in) {
  const int64_t P = p.W + p.pad_left + p.pad_right;
  std::memset(in, 0, sizeof(float) * size_t(flat_input_floats(p)));
  for (int64_t ih = 0; ih < p.H; ++ih)
    std::memcpy(in + (ih + p.pad_top) * P + p.pad_left, x + ih * p.W, sizeof(float) * size_t(p.W));
}

// y = act(y + residual) over one plane (see PlaneEpilogueFn).
template <int ACT, bool RESIDUAL>
inline void epilogue_loop(float* __restrict y, const float* __restrict residual, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    float v = RESIDUAL ? y[i] + residual[i] : y[i];
    if (ACT >= 1) v = v < 0.f ? 0.f : v;  // keeps NaN (as PyTorch)
    if (ACT == 2) v = v > 6.f ? 6.f : v;
    y[i] = v;
  }
}

inline void plane_epilogue(float* y, const float* residual, int64_t n, int act) {
  if (residual) {
    if (act == 2) epilogue_loop<2, true>(y, residual, n);
    else if (act == 1) epilogue_loop<1, true>(y, residual, n);
    else epilogue_loop<0, true>(y, residual, n);
  } else if (act == 2) {
    epilogue_loop<2, false>(y, nullptr, n);
  } else if (act == 1) {
    epilogue_loop<1, false>(y, nullptr, n);
  }
}

}  // namespace DEPTHWISE_ISA_NS
}  // namespace depthwise
}  // namespace cnnnative

#include "depthwise_forward_impl.h"
#include "depthwise_backward_impl.h"

namespace cnnnative {
namespace depthwise {
namespace DEPTHWISE_ISA_NS {

inline const Kernels& table() {
  static const Kernels k{&forward_plane, &backward_input_plane, &backward_weight_plane, &plane_epilogue};
  return k;
}

}  // namespace DEPTHWISE_ISA_NS
}  // namespace depthwise
}  // namespace cnnnative
