// Portable band kernel of the F(2,3) / F(2,4) small-channel convolution
// (direct_smallc_wino.h): the same transformed planes and filters as the AVX-512 kernel,
// one output pair at a time.
#include <algorithm>

#include "direct_smallc_wino.h"

namespace cnnnative {
namespace direct_smallc_wino {

void transform_row_scalar(int points, int outputs, const float* const d[kMaxPoints], float* const o[kMaxPoints],
                          int64_t n) {
  if (points == 4) {
    for (int64_t t = 0; t < n; ++t) {
      const float d0 = d[0][t], d1 = d[1][t], d2 = d[2][t];
      o[0][t] = d0 - d2;
      o[1][t] = d1 + d2;
      o[2][t] = d2 - d1;
      if (outputs > 3) o[3][t] = d1 - d[3][t];
    }
    return;
  }
  for (int64_t t = 0; t < n; ++t) {
    const float d0 = d[0][t], d1 = d[1][t], d2 = d[2][t], d3 = d[3][t];
    o[0][t] = 2.f * d0 - d1 - 2.f * d2 + d3;
    o[1][t] = 2.f * d1 + d2 - d3;
    o[2][t] = -2.f * d1 + 3.f * d2 - d3;
    o[3][t] = d3 - d1;
    if (outputs > 4) o[4][t] = 2.f * d1 - d2 - 2.f * d3 + d[4][t];
  }
}

void band_scalar(const BandArgs& a) {
  const int P = a.points;
  const int64_t B = block_k(P);
  for (int64_t k = 0; k < a.K; ++k) {
    const float* w = a.packed_w + (k / B) * a.taps * P * B + k % B;
    const float b = a.bias ? a.bias[k] : 0.f;
    float* yk = a.y + k * a.ld;
    const float* rk = a.residual ? a.residual + k * a.ld : nullptr;
    for (int64_t j = 0; j < a.pairs; ++j) {
      float m[kMaxPoints] = {0.f, 0.f, 0.f, 0.f, 0.f};
      for (int64_t t = 0; t < a.taps; ++t) {
        const int used = t < a.full_taps ? P : P - 1;
        for (int i = 0; i < used; ++i)
          m[i] += w[(t * P + i) * B] * a.planes[a.tap_offset[t] + i * a.point_stride + j];
      }
      const float out[2] = {P == 4 ? m[0] + m[1] + m[2] + b : m[0] + m[1] + m[2] + m[3] + b,
                            P == 4 ? m[1] - m[2] - m[3] + b : m[1] - m[2] + 2.f * m[3] + m[4] + b};
      // Pair j of the chunk: output row jg / PW, columns 2 (jg % PW) and the next one
      // unless it is the pad column of an odd width.
      const int64_t jg = a.first_pair + j, row = jg / a.PW, col = 2 * (jg % a.PW);
      for (int h = 0; h < 2 && col + h < a.OW; ++h) {
        const int64_t at = row * a.OW + col + h;
        float v = out[h] + (rk ? rk[at] : 0.f);
        if (a.act != Activation::none) v = std::max(v, 0.f);
        if (a.act == Activation::relu6) v = std::min(v, 6.f);
        yk[at] = v;
      }
    }
  }
}

}  // namespace direct_smallc_wino
}  // namespace cnnnative
