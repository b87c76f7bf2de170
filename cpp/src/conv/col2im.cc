// col2im: the adjoint of im2col. Each column-matrix element is added back into the input
// position it was read from; padding positions are dropped. Taps overlap (kernel larger
// than the stride), hence accumulation. Threads split by channel: the R*S rows of channel
// c write only into channel c of dx, so no two threads touch the same element.

#include <algorithm>
#include <vector>

#include "cnnnative/thread_pool.h"
#include "cnnnative/threads.h"
#include "conv/im2col.h"
#include "conv/im2col_range.h"
#include "conv/im2col_row.h"

namespace cnnnative {
namespace im2col {

void col2im_channels(const ConvParams& p, const float* cols, int64_t ld, int64_t oh0,
                     int64_t oh1, int64_t c0, int64_t c1, float* dxg) {
  const int64_t OW = p.output_w();
  // Which output rows / columns of each tap land inside the image depends on the tap
  // only: worked out once here, not per channel (two integer divisions per range cost
  // more than the adds of a 4-wide row; transposed convolutions of small images, DCGAN's
  // 4x4 -> 8x8, spent about a third of col2im on them).
  std::vector<ValidRange> rows(size_t(p.R)), columns(size_t(p.S));
  for (int64_t kr = 0; kr < p.R; ++kr)
    rows[size_t(kr)] = valid_output_range(kr * p.dilation_h - p.pad_top, p.stride_h, p.H, oh1);
  for (int64_t ks = 0; ks < p.S; ++ks)
    columns[size_t(ks)] = valid_output_range(ks * p.dilation_w - p.pad_left, p.stride_w, p.W, OW);
  for (int64_t c = c0; c < c1; ++c) {
    float* dxc = dxg + c * p.H * p.W;
    for (int64_t kr = 0; kr < p.R; ++kr) {
      // Only output rows whose input row lies inside the image contribute.
      const int64_t row_offset = kr * p.dilation_h - p.pad_top;  // ih = oh * stride_h + row_offset
      const int64_t oh_lo = std::max(oh0, rows[size_t(kr)].lo), oh_hi = std::max(oh_lo, rows[size_t(kr)].hi);
      const float* tap_rows = cols + (c * p.R + kr) * p.S * ld;
      for (int64_t oh = oh_lo; oh < oh_hi; ++oh) {
        float* dst = dxc + (oh * p.stride_h + row_offset) * p.W;
        const float* src = tap_rows + (oh - oh0) * OW;
        // All taps of this kernel row add into the same input row, still in L1.
        for (int64_t ks = 0; ks < p.S; ++ks, src += ld) {
          const ValidRange& v = columns[size_t(ks)];
          scatter_add_row(src, ks * p.dilation_w - p.pad_left, p.stride_w, v.lo, v.hi, dst);
        }
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
  run_team(cnnnative::num_threads(), [&](int t, int nt) {
    col2im_channels(p, cols, ld, oh0, oh1, Cg * t / nt, Cg * (t + 1) / nt, dxg);
  });
}

}  // namespace im2col
}  // namespace cnnnative
