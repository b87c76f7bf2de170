// The depthwise int8 plane kernel on vpmaddwd (see depthwise_s8_kernels.h), written once for
// the vector widths that run it: depthwise_s8__avx512.cc (16 output columns per vector) and
// depthwise_s8__avx2.cc (8). Exact int32 sums.
//
// An activation widened to int32 is the int16 pair (x, 0), so with the weight pair (w, 0)
// vpmaddwd gives x*w. At stride 2 the 2 * lanes bytes under `lanes` outputs widen to the
// pairs (x[2i], x[2i+1]), which with the weight pair (w[s], w[s+1]) give two taps in one
// instruction (dilation 1). Each sum of two products is at most 2 * 255 * 128 in magnitude,
// so nothing saturates. Strides above 2 and kernels over 64 taps use the scalar kernel.
//
// V (the including file's): Reg; kLanes; set1(int32), zero(), add(a, b), madd(a, b);
// widen_lanes(p): kLanes bytes at p as int32 lanes; widen_pairs(p): 2 * kLanes bytes as int16
// lanes; store(y, v, cols): the first min(cols, kLanes) lanes of v at y.
#pragma once
#include <cstdint>

#include "quant/depthwise_s8_kernels.h"

namespace cnnnative::quant::detail::dw_madd {

constexpr int64_t kMaxTaps = 64;

inline int32_t pair(int32_t lo, int32_t hi) {
  return static_cast<int32_t>((static_cast<uint32_t>(static_cast<uint16_t>(lo))) |
                              (static_cast<uint32_t>(static_cast<uint16_t>(hi)) << 16));
}

template <class V>
void plane_stride1(const ConvParams& p, const uint8_t* xp, int64_t ld, const int8_t* w, int32_t* y) {
  using Reg = typename V::Reg;
  const int64_t OH = p.output_h(), OW = p.output_w(), R = p.R, S = p.S;
  Reg wv[kMaxTaps];
  for (int64_t t = 0; t < R * S; ++t) wv[t] = V::set1(pair(w[t], 0));
  for (int64_t oh = 0; oh < OH; ++oh) {
    const uint8_t* base = xp + oh * p.stride_h * ld;
    for (int64_t ow = 0; ow < OW; ow += V::kLanes) {
      Reg acc0 = V::zero(), acc1 = V::zero();
      for (int64_t r = 0; r < R; ++r) {
        const uint8_t* row = base + r * p.dilation_h * ld + ow;
        const Reg* wr = wv + r * S;
        int64_t s = 0;
        for (; s + 1 < S; s += 2) {  // two independent chains
          acc0 = V::add(acc0, V::madd(V::widen_lanes(row + s * p.dilation_w), wr[s]));
          acc1 = V::add(acc1, V::madd(V::widen_lanes(row + (s + 1) * p.dilation_w), wr[s + 1]));
        }
        if (s < S) acc0 = V::add(acc0, V::madd(V::widen_lanes(row + s * p.dilation_w), wr[s]));
      }
      V::store(y + oh * OW + ow, V::add(acc0, acc1), OW - ow);
    }
  }
}

template <class V>
void plane_stride2(const ConvParams& p, const uint8_t* xp, int64_t ld, const int8_t* w, int32_t* y) {
  using Reg = typename V::Reg;
  const int64_t OH = p.output_h(), OW = p.output_w(), R = p.R, S = p.S, dw = p.dilation_w;
  // Taps grouped per row: with dilation 1, taps s and s+1 share one vpmaddwd.
  struct Group { int64_t offset; Reg w; };
  Group groups[kMaxTaps];
  int64_t row_end[kMaxTaps];
  int64_t n = 0;
  for (int64_t r = 0; r < R; ++r) {
    for (int64_t s = 0; s < S;) {
      if (dw == 1 && s + 1 < S) {
        groups[n++] = {s, V::set1(pair(w[r * S + s], w[r * S + s + 1]))};
        s += 2;
      } else {
        groups[n++] = {s * dw, V::set1(pair(w[r * S + s], 0))};
        s += 1;
      }
    }
    row_end[r] = n;
  }
  for (int64_t oh = 0; oh < OH; ++oh) {
    const uint8_t* base = xp + oh * p.stride_h * ld;
    for (int64_t ow = 0; ow < OW; ow += V::kLanes) {
      Reg acc0 = V::zero(), acc1 = V::zero();
      int64_t g = 0;
      for (int64_t r = 0; r < R; ++r) {
        const uint8_t* row = base + r * p.dilation_h * ld + 2 * ow;
        for (; g + 1 < row_end[r]; g += 2) {
          acc0 = V::add(acc0, V::madd(V::widen_pairs(row + groups[g].offset), groups[g].w));
          acc1 = V::add(acc1, V::madd(V::widen_pairs(row + groups[g + 1].offset), groups[g + 1].w));
        }
        if (g < row_end[r]) {
          acc0 = V::add(acc0, V::madd(V::widen_pairs(row + groups[g].offset), groups[g].w));
          ++g;
        }
      }
      V::store(y + oh * OW + ow, V::add(acc0, acc1), OW - ow);
    }
  }
}

template <class V>
void plane(const ConvParams& p, const uint8_t* xp, int64_t ld, const int8_t* w, int32_t* y) {
  if (p.R * p.S > kMaxTaps) return dw_plane_scalar(p, xp, ld, w, y);
  if (p.stride_w == 1) return plane_stride1<V>(p, xp, ld, w, y);
  if (p.stride_w == 2) return plane_stride2<V>(p, xp, ld, w, y);
  dw_plane_scalar(p, xp, ld, w, y);
}

}  // namespace cnnnative::quant::detail::dw_madd
