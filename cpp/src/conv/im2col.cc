// im2col: one band of output rows' column matrix from one group's input channels.
//
// Row (c, r, s) of the column matrix, at output pixel (oh, ow), holds
//   x[c, oh*stride_h - pad_top + r*dilation_h, ow*stride_w - pad_left + s*dilation_w]
// or 0 where that lands in the padding. With stride 1 the in-range part of each output
// row is a contiguous slice of an input row, so it is one memcpy (vectorised by libc).
#include <omp.h>

#include <algorithm>
#include <cstring>

#include "cnnnative/threads.h"
#include "conv/im2col.h"
#include "conv/im2col_range.h"

namespace cnnnative {
namespace im2col {

bool is_pointwise(const ConvParams& p) {
  return p.R == 1 && p.S == 1 && p.stride_h == 1 && p.stride_w == 1 && p.pad_top == 0 &&
         p.pad_bottom == 0 && p.pad_left == 0 && p.pad_right == 0;
}

void im2col_rows(const ConvParams& p, const float* xg, int64_t oh0, int64_t oh1, int64_t r0,
                 int64_t r1, float* cols) {
  const int64_t OW = p.output_w(), len = (oh1 - oh0) * OW, RS = p.R * p.S;
  const int64_t sw = p.stride_w;
  for (int64_t row = r0; row < r1; ++row) {
    const int64_t c = row / RS, kr = (row / p.S) % p.R, ks = row % p.S;
    const float* xc = xg + c * p.H * p.W;
    float* out = cols + row * len;
    const ValidRange v = valid_output_range(ks * p.dilation_w - p.pad_left, sw, p.W, OW);
    const int64_t iw0 = v.lo * sw + ks * p.dilation_w - p.pad_left;  // input column of ow = lo
    for (int64_t oh = oh0; oh < oh1; ++oh, out += OW) {
      const int64_t ih = oh * p.stride_h - p.pad_top + kr * p.dilation_h;
      if (ih < 0 || ih >= p.H) {
        std::fill(out, out + OW, 0.f);
        continue;
      }
      const float* in = xc + ih * p.W + iw0;
      std::fill(out, out + v.lo, 0.f);
      if (sw == 1) {
        std::memcpy(out + v.lo, in, sizeof(float) * (v.hi - v.lo));
      } else {
        for (int64_t ow = v.lo; ow < v.hi; ++ow) out[ow] = in[(ow - v.lo) * sw];
      }
      std::fill(out + v.hi, out + OW, 0.f);
    }
  }
}

void im2col_band(const ConvParams& p, const float* xg, int64_t oh0, int64_t oh1, float* cols,
                 bool threaded) {
  const int64_t rows = p.channels_per_group() * p.R * p.S;
  if (!threaded) {
    im2col_rows(p, xg, oh0, oh1, 0, rows, cols);
    return;
  }
#pragma omp parallel num_threads(cnnnative::num_threads())
  {
    const int64_t t = omp_get_thread_num(), nt = omp_get_num_threads();
    const int64_t r0 = rows * t / nt, r1 = rows * (t + 1) / nt;
    im2col_rows(p, xg, oh0, oh1, r0, r1, cols);
  }
}

}  // namespace im2col
}  // namespace cnnnative
