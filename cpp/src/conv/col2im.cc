// col2im: the adjoint of im2col. Each column-matrix element is added back into the input
// position it was read from; padding positions are dropped. Taps overlap (kernel larger
// than the stride), hence accumulation. Threads split by channel: the R*S rows of channel
// c write only into channel c of dx, so no two threads touch the same element.
#include <omp.h>

#include <algorithm>

#include "cnnnative/threads.h"
#include "conv/im2col.h"
#include "conv/im2col_range.h"
#include "conv/im2col_row.h"

namespace cnnnative {
namespace im2col {

void col2im_channels(const ConvParams& p, const float* cols, int64_t ld, int64_t oh0,
                     int64_t oh1, int64_t c0, int64_t c1, float* dxg) {
  const int64_t OW = p.output_w();
  for (int64_t c = c0; c < c1; ++c) {
    float* dxc = dxg + c * p.H * p.W;
    for (int64_t kr = 0; kr < p.R; ++kr) {
      for (int64_t ks = 0; ks < p.S; ++ks) {
        const float* src = cols + ((c * p.R + kr) * p.S + ks) * ld;
        const int64_t offset = ks * p.dilation_w - p.pad_left;
        const ValidRange v = valid_output_range(offset, p.stride_w, p.W, OW);
        // Only output rows whose input row lies inside the image contribute.
        const int64_t row_offset = kr * p.dilation_h - p.pad_top;  // ih = oh * stride_h + row_offset
        const ValidRange vh = valid_output_range(row_offset, p.stride_h, p.H, oh1);
        const int64_t oh_lo = std::max(oh0, vh.lo), oh_hi = std::max(oh_lo, vh.hi);
        src += (oh_lo - oh0) * OW;
        for (int64_t oh = oh_lo; oh < oh_hi; ++oh, src += OW)
          scatter_add_row(src, offset, p.stride_w, v.lo, v.hi, dxc + (oh * p.stride_h + row_offset) * p.W);
      }
    }
  }
}

void col2im_band(const ConvParams& p, const float* cols, int64_t ld, int64_t oh0, int64_t oh1,
                 float* dxg, bool threaded) {
  const int64_t Cg = p.channels_per_group();
  if (!threaded) {
    col2im_channels(p, cols, ld, oh0, oh1, 0, Cg, dxg);
    return;
  }
#pragma omp parallel num_threads(cnnnative::num_threads())
  {
    const int64_t t = omp_get_thread_num(), nt = omp_get_num_threads();
    col2im_channels(p, cols, ld, oh0, oh1, Cg * t / nt, Cg * (t + 1) / nt, dxg);
  }
}

}  // namespace im2col
}  // namespace cnnnative
