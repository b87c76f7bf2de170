// Portable band kernel of the small-channel direct convolution (see direct_smallc.h):
// the same planes and packed weights as the SIMD kernels, one output value at a time.
#include <algorithm>

#include "direct_smallc.h"
#include "direct_smallc_kernels.h"

namespace cnnnative {
namespace direct_smallc {

void band_scalar(const BandArgs& a) {
  for (int64_t k = 0; k < a.K; ++k) {
    const float* w = a.packed_w + (k / kBlockK) * a.taps * kBlockK + k % kBlockK;
    float* yk = a.y + k * a.ld;
    const float* rk = a.residual ? a.residual + k * a.ld : nullptr;
    for (int64_t j = 0; j < a.pixels; ++j) {
      float acc = a.bias ? a.bias[k] : 0.f;
      for (int64_t t = 0; t < a.taps; ++t) acc += w[t * kBlockK] * a.planes[a.tap_offset[t] + j];
      if (rk) acc += rk[j];
      if (a.act != Activation::none) acc = std::max(acc, 0.f);
      if (a.act == Activation::relu6) acc = std::min(acc, 6.f);
      yk[j] = acc;
    }
  }
}

}  // namespace direct_smallc
}  // namespace cnnnative
