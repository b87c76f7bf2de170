// Index ranges of pooling windows, shared by the 2-D and 3-D pooling bodies (pool_body.inl,
// pool3d_body.inl). In an anonymous namespace on purpose: each per-ISA file includes it and
// must get its own copy compiled with its own flags.
#pragma once
#include <cstdint>

#include "core/int_math.h"

namespace cnnnative {
namespace {

// Output columns [lo, hi) whose input column ow*stride + off lies in [0, W).
struct ColumnRange {
  int64_t lo, hi;
};
inline ColumnRange columns_inside(int64_t off, int64_t stride, int64_t W, int64_t OW) {
  int64_t lo = off >= 0 ? 0 : ceil_div(-off, stride);
  int64_t hi = W - 1 - off < 0 ? 0 : (W - 1 - off) / stride + 1;
  if (hi > OW) hi = OW;
  if (lo > hi) lo = hi;
  return {lo, hi};
}

// Taps [lo, hi) of a k-tap window starting at `start` whose position start + t*dilation
// lies in [first, last]. Loops over these instead of all k taps, so a huge kernel costs
// what the input it covers costs (kernel_size=2**62 on a 9x9 input ran for ever).
struct TapRange {
  int64_t lo, hi;
};
inline TapRange taps_inside(int64_t start, int64_t dilation, int64_t k, int64_t first, int64_t last) {
  if (last < start || first > last) return {0, 0};
  const int64_t lo = first > start ? ceil_div(first - start, dilation) : 0;
  int64_t hi = (last - start) / dilation + 1;
  if (hi > k) hi = k;
  return {lo, hi > lo ? hi : lo};
}

// First in-bounds tap of a window starting at `start` (PyTorch's initial argmax position).
inline int64_t first_tap(int64_t start, int64_t dilation) {
  return start >= 0 ? start : start + ceil_div(-start, dilation) * dilation;
}

// ih * W + iw. Wraps instead of overflowing for the one case where it can: a window whose
// taps all fall in the padding (huge dilation), whose index PyTorch also leaves off-plane.
inline int64_t plane_index(int64_t ih, int64_t W, int64_t iw) {
  return static_cast<int64_t>(static_cast<uint64_t>(ih) * static_cast<uint64_t>(W) + static_cast<uint64_t>(iw));
}

// The window of output (oh, ow) in one axis: [start, end) clipped to the padded input
// (its size is the count_include_pad divisor), and [lo, hi) clipped to the real input.
struct Window {
  int64_t padded, lo, hi;
};
inline Window avg_window(int64_t o, int64_t stride, int64_t pad, int64_t k, int64_t in) {
  const int64_t start = o * stride - pad;
  // end = min(start + k, in + pad), without forming start + k (k may be near INT64_MAX).
  const int64_t end = k < in + pad - start ? start + k : in + pad;
  Window w{end - start, start < 0 ? 0 : start, end < in ? end : in};
  return w;
}

// The divisor a * b as a float; the int64 product may overflow for absurd padding.
inline float divisor(int64_t a, int64_t b) {
  int64_t d;
  if (__builtin_mul_overflow(a, b, &d)) return static_cast<float>(static_cast<double>(a) * static_cast<double>(b));
  return static_cast<float>(d);
}

}  // namespace
}  // namespace cnnnative
