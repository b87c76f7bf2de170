// Pooling kernels, written once and compiled per ISA (see pool/pool.h). The including file
// defines CNNNATIVE_TABLE and carries the ISA's flags.
//
// Layout of the work: for one output row, loop over the window's (kh, kw) taps and, inside,
// over the output columns ow whose tap falls inside the input. That inner loop is a plain
// strided loop the compiler vectorises, it needs no bounds tests (the in-bounds ow range is
// computed per tap), and each output still sees its taps in PyTorch's row-major order,
// which decides ties (first maximum wins) and the summation order.
#include "pool/pool.h"

namespace cnnnative {
namespace {

// Output columns [lo, hi) whose input column ow*stride + off lies in [0, W).
struct ColumnRange {
  int64_t lo, hi;
};
inline ColumnRange columns_inside(int64_t off, int64_t stride, int64_t W, int64_t OW) {
  int64_t lo = off >= 0 ? 0 : (-off + stride - 1) / stride;
  int64_t hi = W - 1 - off < 0 ? 0 : (W - 1 - off) / stride + 1;
  if (hi > OW) hi = OW;
  if (lo > hi) lo = hi;
  return {lo, hi};
}

// First in-bounds tap of a window starting at `start` (PyTorch's initial argmax position).
inline int64_t first_tap(int64_t start, int64_t dilation) {
  return start >= 0 ? start : start + ((-start + dilation - 1) / dilation) * dilation;
}

template <bool kWithIndices>
void max_rows(const PoolParams& p, const float* in, float* out, int64_t* idx, int64_t oh0, int64_t oh1) {
  const int64_t W = p.W, OW = p.OW;
  for (int64_t oh = oh0; oh < oh1; ++oh) {
    float* o = out + oh * OW;
    int64_t* ix = kWithIndices ? idx + oh * OW : nullptr;
    const int64_t ih_start = oh * p.stride_h - p.pad_h;
    const int64_t ih_first = first_tap(ih_start, p.dilation_h);
    for (int64_t ow = 0; ow < OW; ++ow) {
      o[ow] = -__builtin_inff();
      if (kWithIndices) ix[ow] = ih_first * W + first_tap(ow * p.stride_w - p.pad_w, p.dilation_w);
    }
    for (int64_t kh = 0; kh < p.kernel_h; ++kh) {
      const int64_t ih = ih_start + kh * p.dilation_h;
      if (ih < 0 || ih >= p.H) continue;
      const float* row = in + ih * W;
      for (int64_t kw = 0; kw < p.kernel_w; ++kw) {
        const int64_t off = kw * p.dilation_w - p.pad_w;
        const ColumnRange r = columns_inside(off, p.stride_w, W, OW);
        const int64_t sw = p.stride_w;
        if (kWithIndices) {
          const int64_t base = ih * W + off;
#pragma omp simd
          for (int64_t ow = r.lo; ow < r.hi; ++ow) {
            const float v = row[ow * sw + off];
            const bool take = v > o[ow] || v != v;  // NaN propagates, as in PyTorch
            o[ow] = take ? v : o[ow];
            ix[ow] = take ? base + ow * sw : ix[ow];
          }
        } else {
#pragma omp simd
          for (int64_t ow = r.lo; ow < r.hi; ++ow) {
            const float v = row[ow * sw + off];
            o[ow] = (v > o[ow] || v != v) ? v : o[ow];
          }
        }
      }
    }
  }
}

void max_forward(const PoolParams& p, const float* in, float* out, int64_t* idx, int64_t oh0, int64_t oh1) {
  if (idx)
    max_rows<true>(p, in, out, idx, oh0, oh1);
  else
    max_rows<false>(p, in, out, nullptr, oh0, oh1);
}

// The window of output (oh, ow) in one axis: [start, end) clipped to the padded input
// (its size is the count_include_pad divisor), and [lo, hi) clipped to the real input.
struct Window {
  int64_t padded, lo, hi;
};
inline Window avg_window(int64_t o, int64_t stride, int64_t pad, int64_t k, int64_t in) {
  const int64_t start = o * stride - pad;
  int64_t end = start + k;
  if (end > in + pad) end = in + pad;
  Window w{end - start, start < 0 ? 0 : start, end < in ? end : in};
  return w;
}

// 1 / divisor for each output column of row oh, or 0 for windows with no input element.
inline void avg_reciprocal_row(const PoolParams& p, int64_t oh, float* factor) {
  const Window wh = avg_window(oh, p.stride_h, p.pad_h, p.kernel_h, p.H);
  for (int64_t ow = 0; ow < p.OW; ++ow) {
    const Window ww = avg_window(ow, p.stride_w, p.pad_w, p.kernel_w, p.W);
    if (wh.lo >= wh.hi || ww.lo >= ww.hi) {
      factor[ow] = 0.0f;
      continue;
    }
    const int64_t div = p.count_include_pad ? wh.padded * ww.padded : (wh.hi - wh.lo) * (ww.hi - ww.lo);
    factor[ow] = static_cast<float>(div);  // stored as the divisor; callers divide
  }
}

void avg_forward(const PoolParams& p, const float* in, float* out, int64_t oh0, int64_t oh1) {
  const int64_t W = p.W, OW = p.OW, sw = p.stride_w;
  for (int64_t oh = oh0; oh < oh1; ++oh) {
    float* o = out + oh * OW;
    for (int64_t ow = 0; ow < OW; ++ow) o[ow] = 0.0f;
    const Window wh = avg_window(oh, p.stride_h, p.pad_h, p.kernel_h, p.H);
    for (int64_t ih = wh.lo; ih < wh.hi; ++ih) {
      const float* row = in + ih * W;
      for (int64_t kw = 0; kw < p.kernel_w; ++kw) {
        const int64_t off = kw - p.pad_w;
        const ColumnRange r = columns_inside(off, sw, W, OW);
#pragma omp simd
        for (int64_t ow = r.lo; ow < r.hi; ++ow) o[ow] += row[ow * sw + off];
      }
    }
    // Divide in place; divisors are computed per chunk into a small stack buffer.
    float div[256];
    for (int64_t c0 = 0; c0 < OW; c0 += 256) {
      const int64_t n = OW - c0 < 256 ? OW - c0 : 256;
      for (int64_t j = 0; j < n; ++j) {
        const Window ww = avg_window(c0 + j, p.stride_w, p.pad_w, p.kernel_w, p.W);
        const bool empty = wh.lo >= wh.hi || ww.lo >= ww.hi;
        const int64_t d = p.count_include_pad ? wh.padded * ww.padded : (wh.hi - wh.lo) * (ww.hi - ww.lo);
        div[j] = empty ? 0.0f : static_cast<float>(d);
      }
#pragma omp simd
      for (int64_t j = 0; j < n; ++j) o[c0 + j] = div[j] == 0.0f ? 0.0f : o[c0 + j] / div[j];
    }
  }
}

void max_backward(const PoolParams& p, const float* g, const int64_t* idx, float* gin) {
  const int64_t hw = p.H * p.W, ohw = p.OH * p.OW;
#pragma omp simd
  for (int64_t i = 0; i < hw; ++i) gin[i] = 0.0f;
  for (int64_t i = 0; i < ohw; ++i) gin[idx[i]] += g[i];
}

void avg_backward(const PoolParams& p, const float* g, float* gin, float* scratch) {
  const int64_t W = p.W, OW = p.OW, sw = p.stride_w, hw = p.H * p.W;
#pragma omp simd
  for (int64_t i = 0; i < hw; ++i) gin[i] = 0.0f;
  for (int64_t oh = 0; oh < p.OH; ++oh) {
    avg_reciprocal_row(p, oh, scratch);  // divisors (0 = empty window)
    const float* go = g + oh * OW;
    for (int64_t ow = 0; ow < OW; ++ow) scratch[ow] = scratch[ow] == 0.0f ? 0.0f : go[ow] / scratch[ow];
    const Window wh = avg_window(oh, p.stride_h, p.pad_h, p.kernel_h, p.H);
    for (int64_t ih = wh.lo; ih < wh.hi; ++ih) {
      float* row = gin + ih * W;
      for (int64_t kw = 0; kw < p.kernel_w; ++kw) {
        const int64_t off = kw - p.pad_w;
        const ColumnRange r = columns_inside(off, sw, W, OW);
        // Distinct ow hit distinct columns (stride >= 1), so this loop has no conflicts.
#pragma omp simd
        for (int64_t ow = r.lo; ow < r.hi; ++ow) row[ow * sw + off] += scratch[ow];
      }
    }
  }
}

void global_forward(const float* in, float* out, int64_t planes, int64_t hw) {
  const float inv = 1.0f / static_cast<float>(hw);
  for (int64_t c = 0; c < planes; ++c) {
    const float* x = in + c * hw;
    float s = 0.0f;
#pragma omp simd reduction(+ : s)
    for (int64_t i = 0; i < hw; ++i) s += x[i];
    out[c] = s * inv;
  }
}

void global_backward(const float* g, float* gin, int64_t planes, int64_t hw) {
  const float inv = 1.0f / static_cast<float>(hw);
  for (int64_t c = 0; c < planes; ++c) {
    const float v = g[c] * inv;
    float* o = gin + c * hw;
#pragma omp simd
    for (int64_t i = 0; i < hw; ++i) o[i] = v;
  }
}

}  // namespace

extern const PoolKernels CNNNATIVE_TABLE = {max_forward,  avg_forward,    max_backward,
                                            avg_backward, global_forward, global_backward};

}  // namespace cnnnative
