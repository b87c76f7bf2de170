// im2col: one band of output rows' column matrix from one group's input channels.
//
// Row (c, r, s) of the column matrix, at output pixel (oh, ow), holds
//   x[c, oh*stride_h - pad_top + r*dilation_h, ow*stride_w - pad_left + s*dilation_w]
// or 0 where that lands in the padding. The per-row work (zeros, copy, zeros) is
// gather_row (im2col_row.h).

#include <algorithm>


#include "cnnnative/thread_pool.h"
#include "cnnnative/threads.h"
#include "conv/im2col.h"
#include "conv/im2col_range.h"
#include "conv/im2col_row.h"

namespace cnnnative {
namespace im2col {

bool is_pointwise(const ConvParams& p) {
  return p.R == 1 && p.S == 1 && p.stride_h == 1 && p.stride_w == 1 && p.pad_top == 0 &&
         p.pad_bottom == 0 && p.pad_left == 0 && p.pad_right == 0;
}

void im2col_rows(const ConvParams& p, const float* xg, int64_t oh0, int64_t oh1, int64_t r0,
                 int64_t r1, float* cols, int64_t ld) {
  const int64_t OW = p.output_w(), RS = p.R * p.S;
  for (int64_t row = r0; row < r1; ++row) {
    const int64_t c = row / RS, kr = (row / p.S) % p.R, ks = row % p.S;
    const float* xc = xg + c * p.H * p.W;
    float* out = cols + row * ld;
    const int64_t offset = ks * p.dilation_w - p.pad_left;  // iw = ow * stride_w + offset
    const ValidRange v = valid_output_range(offset, p.stride_w, p.W, OW);
    // Output rows whose input row lies inside the image: [oh_lo, oh_hi) of the band.
    const ValidRange vh = valid_output_range(kr * p.dilation_h - p.pad_top, p.stride_h, p.H, oh1);
    const int64_t oh_lo = std::max(oh0, vh.lo), oh_hi = std::max(oh_lo, vh.hi);
    if (p.stride_w == 1 && v.lo == 0 && v.hi == OW) {
      // The common interior case: padding rows are zeros, the rest plain copies.
      std::fill(out, out + (oh_lo - oh0) * OW, 0.f);
      // Row addresses are formed only for rows inside the image: stepping a pointer by
      // stride_h * W overflowed for huge strides (UBSan).
      float* o = out + (oh_lo - oh0) * OW;
      for (int64_t oh = oh_lo; oh < oh_hi; ++oh, o += OW)
        copy_floats(xc + (oh * p.stride_h - p.pad_top + kr * p.dilation_h) * p.W + offset, OW, o);
      std::fill(o, out + (oh1 - oh0) * OW, 0.f);
      continue;
    }
    for (int64_t oh = oh0; oh < oh1; ++oh, out += OW) {
      const int64_t ih = oh * p.stride_h - p.pad_top + kr * p.dilation_h;
      if (ih < 0 || ih >= p.H)  // the whole output row reads padding
        std::fill(out, out + OW, 0.f);
      else
        gather_row(xc + ih * p.W, offset, p.stride_w, v.lo, v.hi, OW, out);
    }
  }
}

void im2col_band(const ConvParams& p, const float* xg, int64_t oh0, int64_t oh1, float* cols,
                 int64_t ld, bool threaded) {
  const int64_t rows = p.channels_per_group() * p.R * p.S;
  if (!threaded) {
    im2col_rows(p, xg, oh0, oh1, 0, rows, cols, ld);
    return;
  }
  run_team(cnnnative::num_threads(), [&](int t, int nt) {
    const int64_t r0 = rows * t / nt, r1 = rows * (t + 1) / nt;
    im2col_rows(p, xg, oh0, oh1, r0, r1, cols, ld);
  });
}

}  // namespace im2col
}  // namespace cnnnative
