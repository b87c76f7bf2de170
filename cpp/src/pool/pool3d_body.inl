// 3-D pooling kernels, written once and compiled per ISA (see pool/pool3d.h). The including
// file defines CNNNATIVE_TABLE and carries the ISA's flags.
//
// Same layout as the 2-D body (pool_body.inl): one output row is an (od, oh) pair; for each
// (kd, kh, kw) tap that reaches the input, a plain strided loop over the output columns ow
// whose tap is inside the input. No bounds tests inside, and every output sees its taps in
// PyTorch's (d, h, w) order, which decides ties (first maximum wins) and summation order.
#include "core/int_math.h"
#include "pool/pool3d.h"
#include "pool/window_ranges.h"

namespace cnnnative {
namespace {

// Taps of the width axis that reach the input for at least one output column.
inline TapRange width_taps3(const Pool3dParams& p) {
  return taps_inside(-p.pad[2], p.dilation[2], p.kernel[2], -(p.OW - 1) * p.stride[2], p.W - 1);
}

// The plain 2x2x2, stride 2, unpadded, undilated window whose every window lies inside the
// input (the video-network pooling layer): eight taps read directly, in (d, h, w) order.
inline bool is_plain_2x2x2(const Pool3dParams& p) {
  for (int a = 0; a < 3; ++a)
    if (p.kernel[a] != 2 || p.stride[a] != 2 || p.pad[a] != 0 || p.dilation[a] != 1) return false;
  return 2 * p.OD <= p.D && 2 * p.OH <= p.H && 2 * p.OW <= p.W;
}

template <bool kWithIndices>
void max_rows_2x2x2(const Pool3dParams& p, const float* in, float* out, int64_t* idx, int64_t r0, int64_t r1) {
  const int64_t H = p.H, W = p.W, OW = p.OW, hw = H * W;
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t od = r / p.OH, oh = r % p.OH;
    const int64_t base = 2 * od * hw + 2 * oh * W;  // tap (0, 0, 0) of column 0
    const float* a = in + base;
    float* o = out + r * OW;
    int64_t* ix = kWithIndices ? idx + r * OW : nullptr;
    // Offsets of the eight taps in (d, h, w) order.
    const int64_t off[8] = {0, 1, W, W + 1, hw, hw + 1, hw + W, hw + W + 1};
#pragma omp simd
    for (int64_t ow = 0; ow < OW; ++ow) {
      float m = a[2 * ow];
      int64_t at = 0;
      for (int t = 1; t < 8; ++t) {
        const float v = a[2 * ow + off[t]];
        const bool take = v > m || v != v;  // NaN propagates, as in PyTorch
        m = take ? v : m;
        at = take ? off[t] : at;
      }
      o[ow] = m;
      if (kWithIndices) ix[ow] = base + 2 * ow + at;
    }
  }
}

template <bool kWithIndices>
void max_rows(const Pool3dParams& p, const float* in, float* out, int64_t* idx, int64_t r0, int64_t r1) {
  const int64_t H = p.H, W = p.W, OW = p.OW, sw = p.stride[2];
  const TapRange tw = width_taps3(p);
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t od = r / p.OH, oh = r % p.OH;
    float* o = out + r * OW;
    int64_t* ix = kWithIndices ? idx + r * OW : nullptr;
    const int64_t id_start = od * p.stride[0] - p.pad[0], ih_start = oh * p.stride[1] - p.pad[1];
    // PyTorch's initial argmax: the first in-bounds tap of each axis.
    const int64_t first_row = first_tap(id_start, p.dilation[0]) * H + first_tap(ih_start, p.dilation[1]);
    for (int64_t ow = 0; ow < OW; ++ow) {
      o[ow] = -__builtin_inff();
      if (kWithIndices) ix[ow] = plane_index(first_row, W, first_tap(ow * sw - p.pad[2], p.dilation[2]));
    }
    const TapRange td = taps_inside(id_start, p.dilation[0], p.kernel[0], 0, p.D - 1);
    const TapRange th = taps_inside(ih_start, p.dilation[1], p.kernel[1], 0, H - 1);
    for (int64_t kd = td.lo; kd < td.hi; ++kd) {
      const int64_t id = id_start + kd * p.dilation[0];
      for (int64_t kh = th.lo; kh < th.hi; ++kh) {
        const int64_t ih = ih_start + kh * p.dilation[1];
        const int64_t row_start = (id * H + ih) * W;
        const float* row = in + row_start;
        for (int64_t kw = tw.lo; kw < tw.hi; ++kw) {
          const int64_t off = kw * p.dilation[2] - p.pad[2];
          const ColumnRange c = columns_inside(off, sw, W, OW);
          if (kWithIndices) {
#pragma omp simd
            for (int64_t ow = c.lo; ow < c.hi; ++ow) {
              const float v = row[ow * sw + off];
              const bool take = v > o[ow] || v != v;
              o[ow] = take ? v : o[ow];
              ix[ow] = take ? row_start + off + ow * sw : ix[ow];
            }
          } else {
#pragma omp simd
            for (int64_t ow = c.lo; ow < c.hi; ++ow) {
              const float v = row[ow * sw + off];
              o[ow] = (v > o[ow] || v != v) ? v : o[ow];
            }
          }
        }
      }
    }
  }
}

void max_forward(const Pool3dParams& p, const float* in, float* out, int64_t* idx, int64_t r0, int64_t r1) {
  if (is_plain_2x2x2(p)) {
    if (idx)
      max_rows_2x2x2<true>(p, in, out, idx, r0, r1);
    else
      max_rows_2x2x2<false>(p, in, out, nullptr, r0, r1);
  } else if (idx) {
    max_rows<true>(p, in, out, idx, r0, r1);
  } else {
    max_rows<false>(p, in, out, nullptr, r0, r1);
  }
}

// Divisor of output column ow of a row whose depth and height windows are wd, wh (as a
// float; double products so absurd paddings cannot overflow). 0 for an empty window.
inline float avg_divisor(const Pool3dParams& p, const Window& wd, const Window& wh, int64_t ow) {
  const Window ww = avg_window(ow, p.stride[2], p.pad[2], p.kernel[2], p.W);
  if (wd.lo >= wd.hi || wh.lo >= wh.hi || ww.lo >= ww.hi) return 0.0f;
  const double n = p.count_include_pad
                       ? static_cast<double>(wd.padded) * static_cast<double>(wh.padded) * static_cast<double>(ww.padded)
                       : static_cast<double>(wd.hi - wd.lo) * static_cast<double>(wh.hi - wh.lo) *
                             static_cast<double>(ww.hi - ww.lo);
  return static_cast<float>(n);
}

inline TapRange avg_width_taps(const Pool3dParams& p) {
  return taps_inside(-p.pad[2], 1, p.kernel[2], -(p.OW - 1) * p.stride[2], p.W - 1);
}

void avg_forward(const Pool3dParams& p, const float* in, float* out, int64_t r0, int64_t r1) {
  const int64_t H = p.H, W = p.W, OW = p.OW, sw = p.stride[2];
  const TapRange tw = avg_width_taps(p);
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t od = r / p.OH, oh = r % p.OH;
    float* o = out + r * OW;
    for (int64_t ow = 0; ow < OW; ++ow) o[ow] = 0.0f;
    const Window wd = avg_window(od, p.stride[0], p.pad[0], p.kernel[0], p.D);
    const Window wh = avg_window(oh, p.stride[1], p.pad[1], p.kernel[1], H);
    for (int64_t id = wd.lo; id < wd.hi; ++id) {
      for (int64_t ih = wh.lo; ih < wh.hi; ++ih) {
        const float* row = in + (id * H + ih) * W;
        for (int64_t kw = tw.lo; kw < tw.hi; ++kw) {
          const int64_t off = kw - p.pad[2];
          const ColumnRange c = columns_inside(off, sw, W, OW);
#pragma omp simd
          for (int64_t ow = c.lo; ow < c.hi; ++ow) o[ow] += row[ow * sw + off];
        }
      }
    }
    for (int64_t ow = 0; ow < OW; ++ow) {
      const float d = avg_divisor(p, wd, wh, ow);
      o[ow] = d == 0.0f ? 0.0f : o[ow] / d;
    }
  }
}

void max_backward(const Pool3dParams& p, const float* g, const int64_t* idx, float* gin) {
  const int64_t dhw = p.D * p.H * p.W, out = p.OD * p.OH * p.OW;
#pragma omp simd
  for (int64_t i = 0; i < dhw; ++i) gin[i] = 0.0f;
  for (int64_t i = 0; i < out; ++i) gin[idx[i]] += g[i];
}

void avg_backward(const Pool3dParams& p, const float* g, float* gin, float* scratch) {
  const int64_t H = p.H, W = p.W, OW = p.OW, sw = p.stride[2], dhw = p.D * H * W;
  const TapRange tw = avg_width_taps(p);
#pragma omp simd
  for (int64_t i = 0; i < dhw; ++i) gin[i] = 0.0f;
  for (int64_t r = 0; r < p.OD * p.OH; ++r) {
    const int64_t od = r / p.OH, oh = r % p.OH;
    const Window wd = avg_window(od, p.stride[0], p.pad[0], p.kernel[0], p.D);
    const Window wh = avg_window(oh, p.stride[1], p.pad[1], p.kernel[1], H);
    const float* go = g + r * OW;
    for (int64_t ow = 0; ow < OW; ++ow) {
      const float d = avg_divisor(p, wd, wh, ow);
      scratch[ow] = d == 0.0f ? 0.0f : go[ow] / d;
    }
    for (int64_t id = wd.lo; id < wd.hi; ++id) {
      for (int64_t ih = wh.lo; ih < wh.hi; ++ih) {
        float* row = gin + (id * H + ih) * W;
        for (int64_t kw = tw.lo; kw < tw.hi; ++kw) {
          const int64_t off = kw - p.pad[2];
          const ColumnRange c = columns_inside(off, sw, W, OW);
          // Distinct ow hit distinct columns (stride >= 1): no conflicts in this loop.
#pragma omp simd
          for (int64_t ow = c.lo; ow < c.hi; ++ow) row[ow * sw + off] += scratch[ow];
        }
      }
    }
  }
}

}  // namespace

extern const Pool3dKernels CNNNATIVE_TABLE = {max_forward, avg_forward, max_backward, avg_backward};

}  // namespace cnnnative
