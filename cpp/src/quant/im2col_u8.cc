// im2col for uint8 activations, padding with the zero point (see quant.h).
#include <algorithm>
#include <cstring>

#include "cnnnative/errors.h"
#include "cnnnative/quant.h"

namespace cnnnative::quant {

void im2col_u8(const ConvParams& p, const uint8_t* x, uint8_t zero_point, int64_t group, uint8_t* out) {
  p.validate();
  CN_CHECK(group >= 0 && group < p.groups, "im2col_u8: group must be in [0, ", p.groups, "), got ", group);
  const int64_t cg = p.channels_per_group(), OH = p.output_h(), OW = p.output_w();
  const int64_t cols = OH * OW;
  for (int64_t c = 0; c < cg; ++c) {
    const uint8_t* plane = x + (group * cg + c) * p.H * p.W;
    for (int64_t r = 0; r < p.R; ++r)
      for (int64_t s = 0; s < p.S; ++s) {
        uint8_t* row = out + ((c * p.R + r) * p.S + s) * cols;
        for (int64_t oh = 0; oh < OH; ++oh) {
          uint8_t* dst = row + oh * OW;
          const int64_t ih = oh * p.stride_h - p.pad_top + r * p.dilation_h;
          if (ih < 0 || ih >= p.H) {
            std::memset(dst, zero_point, static_cast<size_t>(OW));
            continue;
          }
          const uint8_t* src = plane + ih * p.W;
          const int64_t off = s * p.dilation_w - p.pad_left;  // iw = ow * stride_w + off
          if (p.stride_w == 1) {
            // Columns whose iw is in [0, W): ow in [lo, hi).
            const int64_t lo = std::clamp<int64_t>(-off, 0, OW), hi = std::clamp<int64_t>(p.W - off, lo, OW);
            std::memset(dst, zero_point, static_cast<size_t>(lo));
            std::memcpy(dst + lo, src + lo + off, static_cast<size_t>(hi - lo));
            std::memset(dst + hi, zero_point, static_cast<size_t>(OW - hi));
          } else {
            for (int64_t ow = 0; ow < OW; ++ow) {
              const int64_t iw = ow * p.stride_w + off;
              dst[ow] = (iw >= 0 && iw < p.W) ? src[iw] : zero_point;
            }
          }
        }
      }
  }
}

}  // namespace cnnnative::quant
