// The innermost loops of im2col and col2im, one output row at a time.
//
// For one kernel tap and one output row, output column ow reads input column
// iw = ow * stride + offset; columns [lo, hi) read inside the input row, the rest fall
// in the padding. With stride 1 the in-range part is a contiguous slice: a memcpy
// (libc's, already vectorised for the CPU it runs on), or inline moves when short.
//
// Measured (LeNet, ResNet stem, AlexNet conv1, ResNet 3x3; one thread, CPU time):
// AVX-512 and AVX2 versions with masked loads/stores and gathers were no faster than
// these (col2im was up to 1.4x slower), so there are no per-ISA variants.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>

namespace cnnnative {
namespace im2col {

// Copies n floats. Rows are often short (LeNet: 10 floats), where a memcpy call costs
// more than the copy: fixed-size 16-byte pieces compile to plain vector moves instead.
inline void copy_floats(const float* in, int64_t n, float* out) {
  if (n >= 64) {
    std::memcpy(out, in, sizeof(float) * size_t(n));
    return;
  }
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) std::memcpy(out + i, in + i, 4 * sizeof(float));
  for (; i < n; ++i) out[i] = in[i];
}

// out[ow] = in_row[ow * stride + offset] for ow in [lo, hi), 0 for the rest of [0, OW).
inline void gather_row(const float* in_row, int64_t offset, int64_t stride, int64_t lo,
                       int64_t hi, int64_t OW, float* out) {
  std::fill(out, out + lo, 0.f);
  if (hi > lo) {
    const float* in = in_row + lo * stride + offset;
    if (stride == 1)
      copy_floats(in, hi - lo, out + lo);
    else
      for (int64_t ow = lo; ow < hi; ++ow) out[ow] = in[(ow - lo) * stride];
  }
  std::fill(out + hi, out + OW, 0.f);
}

// dst_row[ow * stride + offset] += src[ow] for ow in [lo, hi).
inline void scatter_add_row(const float* src, int64_t offset, int64_t stride, int64_t lo,
                            int64_t hi, float* dst_row) {
  // Column matrix and dx never overlap: __restrict spares the vectorised loop its
  // run-time overlap check, which costs more than the add on short rows.
  float* __restrict dst = dst_row + lo * stride + offset;
  const float* __restrict s = src + lo;
  const int64_t n = hi - lo;
  if (stride == 1)
    for (int64_t i = 0; i < n; ++i) dst[i] += s[i];
  else
    for (int64_t i = 0; i < n; ++i) dst[i * stride] += s[i];
}

}  // namespace im2col
}  // namespace cnnnative
