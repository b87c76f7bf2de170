// Portable band kernel of the F(2,4) small-channel convolution (direct_smallc_wino.h):
// the same transformed planes and filters as the AVX-512 kernel, one output pair at a time.
#include <algorithm>

#include "direct_smallc_wino.h"

namespace cnnnative {
namespace direct_smallc_wino {

void transform_row_scalar(const float* const d[kPoints], float* const o[kPoints], int64_t n) {
  for (int64_t t = 0; t < n; ++t) {
    const float d0 = d[0][t], d1 = d[1][t], d2 = d[2][t], d3 = d[3][t], d4 = d[4][t];
    o[0][t] = 2.f * d0 - d1 - 2.f * d2 + d3;
    o[1][t] = 2.f * d1 + d2 - d3;
    o[2][t] = -2.f * d1 + 3.f * d2 - d3;
    o[3][t] = d3 - d1;
    o[4][t] = 2.f * d1 - d2 - 2.f * d3 + d4;
  }
}

void band_scalar(const BandArgs& a) {
  for (int64_t k = 0; k < a.K; ++k) {
    const float* w = a.packed_w + (k / kBlockK) * a.taps * kPoints * kBlockK + k % kBlockK;
    const float b = a.bias ? a.bias[k] : 0.f;
    float* yk = a.y + k * a.ld;
    const float* rk = a.residual ? a.residual + k * a.ld : nullptr;
    for (int64_t j = 0; j < a.pairs; ++j) {
      float m[kPoints] = {0.f, 0.f, 0.f, 0.f, 0.f};
      for (int64_t t = 0; t < a.taps; ++t)
        for (int i = 0; i < kPoints; ++i)
          m[i] += w[(t * kPoints + i) * kBlockK] * a.planes[a.tap_offset[t] + i * a.point_stride + j];
      float out[2] = {m[0] + m[1] + m[2] + m[3] + b, m[1] - m[2] + 2.f * m[3] + m[4] + b};
      for (int h = 0; h < 2; ++h) {
        float v = out[h] + (rk ? rk[2 * j + h] : 0.f);
        if (a.act != Activation::none) v = std::max(v, 0.f);
        if (a.act == Activation::relu6) v = std::min(v, 6.f);
        yk[2 * j + h] = v;
      }
    }
  }
}

}  // namespace direct_smallc_wino
}  // namespace cnnnative
