// Which output columns of one kernel tap read inside the input row.
//
// Output column ow reads input column iw = ow * stride + offset, offset = tap * dilation
// - pad_left. Columns [0, lo) and [hi, OW) fall in the padding; [lo, hi) are in range.
#pragma once
#include <algorithm>
#include <cstdint>

#include "core/int_math.h"

namespace cnnnative {
namespace im2col {

struct ValidRange {
  int64_t lo, hi;
};

inline ValidRange valid_output_range(int64_t offset, int64_t stride, int64_t in_size,
                                     int64_t out_size) {
  // lo: first ow with ow*stride + offset >= 0.
  int64_t lo = offset >= 0 ? 0 : ceil_div(-offset, stride);
  // hi: one past the last ow with ow*stride + offset <= in_size - 1.
  const int64_t last = in_size - 1 - offset;
  int64_t hi = last < 0 ? 0 : last / stride + 1;
  lo = std::min(lo, out_size);
  hi = std::clamp(hi, lo, out_size);
  return {lo, hi};
}

}  // namespace im2col
}  // namespace cnnnative
