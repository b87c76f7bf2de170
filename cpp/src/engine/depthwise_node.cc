// Depthwise convolution (groups == C == K): each channel is convolved with its own
// R x S filter. Direct loops, parallel over (image, channel); the epilogue (bias,
// residual, activation) is applied as each output value is produced.
#include <omp.h>

#include "engine/kernels.h"

namespace cnnnative {
namespace engine {

void depthwise_forward(const Node& n, int64_t batch, const float* x, const float* residual, float* y,
                       int threads) {
  const ConvParams& p = n.conv;
  const int64_t OH = p.output_h(), OW = p.output_w(), HW = p.H * p.W, P = OH * OW;
  const int64_t planes = batch * p.C;
#pragma omp parallel for num_threads(threads) schedule(dynamic, 4)
  for (int64_t plane = 0; plane < planes; ++plane) {
    const int64_t c = plane % p.C;
    const float* xc = x + plane * HW;
    const float* wc = n.weight.data() + c * p.R * p.S;
    const float b = n.bias[c];
    float* yc = y + plane * P;
    const float* rc = residual ? residual + plane * P : nullptr;
    for (int64_t oh = 0; oh < OH; ++oh) {
      for (int64_t ow = 0; ow < OW; ++ow) {
        float acc = b;
        for (int64_t r = 0; r < p.R; ++r) {
          const int64_t ih = oh * p.stride_h - p.pad_top + r * p.dilation_h;
          if (ih < 0 || ih >= p.H) continue;
          for (int64_t s = 0; s < p.S; ++s) {
            const int64_t iw = ow * p.stride_w - p.pad_left + s * p.dilation_w;
            if (iw < 0 || iw >= p.W) continue;
            acc += xc[ih * p.W + iw] * wc[r * p.S + s];
          }
        }
        if (rc) acc += rc[oh * OW + ow];
        yc[oh * OW + ow] = activate(acc, n.act);
      }
    }
  }
}

}  // namespace engine
}  // namespace cnnnative
