// Scalar depthwise int8 plane: the exact reference (see depthwise_s8_kernels.h).
#include "quant/depthwise_s8_kernels.h"

namespace cnnnative::quant::detail {

void dw_plane_scalar(const ConvParams& p, const uint8_t* xp, int64_t ld, const int8_t* w, int32_t* y) {
  const int64_t OH = p.output_h(), OW = p.output_w();
  for (int64_t oh = 0; oh < OH; ++oh)
    for (int64_t ow = 0; ow < OW; ++ow) {
      int32_t acc = 0;
      for (int64_t r = 0; r < p.R; ++r) {
        const uint8_t* row = xp + (oh * p.stride_h + r * p.dilation_h) * ld + ow * p.stride_w;
        for (int64_t s = 0; s < p.S; ++s) acc += int32_t{w[r * p.S + s]} * int32_t{row[s * p.dilation_w]};
      }
      y[oh * OW + ow] = acc;
    }
}

}  // namespace cnnnative::quant::detail
