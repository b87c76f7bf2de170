// Pooling kernels, written once and compiled per ISA (see pool/pool.h). The including file
// defines CNNNATIVE_TABLE and carries the ISA's flags.
//
// Layout of the work: for one output row, loop over the window's (kh, kw) taps and, inside,
// over the output columns ow whose tap falls inside the input. That inner loop is a plain
// strided loop the compiler vectorises, it needs no bounds tests (the in-bounds ow range is
// computed per tap), and each output still sees its taps in PyTorch's row-major order,
// which decides ties (first maximum wins) and the summation order.
#include "core/int_math.h"
#include "pool/pool.h"
#include "pool/window_ranges.h"

#ifdef __AVX512F__
#include <immintrin.h>
#endif

namespace cnnnative {
namespace {

// Taps of the width axis that reach the input for at least one output column: column
// ow*stride + start + t*dilation is in [0, W) for some ow in [0, OW).
inline TapRange width_taps(const PoolParams& p, int64_t dilation) {
  return taps_inside(-p.pad_w, dilation, p.kernel_w, -(p.OW - 1) * p.stride_w, p.W - 1);
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
      if (kWithIndices) ix[ow] = plane_index(ih_first, W, first_tap(ow * p.stride_w - p.pad_w, p.dilation_w));
    }
    const TapRange th = taps_inside(ih_start, p.dilation_h, p.kernel_h, 0, p.H - 1);
    const TapRange tw = width_taps(p, p.dilation_w);
    for (int64_t kh = th.lo; kh < th.hi; ++kh) {
      const int64_t ih = ih_start + kh * p.dilation_h;
      const float* row = in + ih * W;
      for (int64_t kw = tw.lo; kw < tw.hi; ++kw) {
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

// The 2x2, stride 2, unpadded, undilated window (the classic CNN pooling layer), whose
// every window lies inside the input: the four taps are read directly, in PyTorch's
// row-major order (first maximum wins, NaN propagates), with no per-tap range logic.
inline bool is_plain_2x2(const PoolParams& p) {
  return p.kernel_h == 2 && p.kernel_w == 2 && p.stride_h == 2 && p.stride_w == 2 && p.pad_h == 0 &&
         p.pad_w == 0 && p.dilation_h == 1 && p.dilation_w == 1 && 2 * p.OH <= p.H && 2 * p.OW <= p.W;
}

#ifdef __AVX512F__
// 16 outputs at a time: even/odd input columns are split apart with one permute per row
// pair, the four taps compared in order with masks, and the winning tap's offset
// (0, 1, W, W+1) widened to int64 indices. Tails use masked loads and stores.
inline void max_row_2x2_avx512(const float* r0, const float* r1, float* o, int64_t* ix, int64_t W,
                               int64_t OW, int64_t base) {
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
  const __m512i lane2 = _mm512_setr_epi64(0, 2, 4, 6, 8, 10, 12, 14);
  const __m512i off_b = _mm512_set1_epi32(1), off_c = _mm512_set1_epi32(static_cast<int>(W)),
                off_d = _mm512_set1_epi32(static_cast<int>(W + 1));
  for (int64_t ow = 0; ow < OW; ow += 16) {
    const int64_t n = OW - ow < 16 ? OW - ow : 16;
    const __mmask16 out_mask = static_cast<__mmask16>((1u << n) - 1u);
    const __mmask16 lo_mask = n >= 8 ? 0xFFFF : static_cast<__mmask16>((1u << (2 * n)) - 1u);
    const __mmask16 hi_mask = n > 8 ? static_cast<__mmask16>((1u << (2 * (n - 8))) - 1u) : 0;
    const float* p0 = r0 + 2 * ow;
    const float* p1 = r1 + 2 * ow;
    const __m512 r0lo = _mm512_maskz_loadu_ps(lo_mask, p0), r0hi = _mm512_maskz_loadu_ps(hi_mask, p0 + 16);
    const __m512 r1lo = _mm512_maskz_loadu_ps(lo_mask, p1), r1hi = _mm512_maskz_loadu_ps(hi_mask, p1 + 16);
    const __m512 a = _mm512_permutex2var_ps(r0lo, even, r0hi), b = _mm512_permutex2var_ps(r0lo, odd, r0hi);
    const __m512 c = _mm512_permutex2var_ps(r1lo, even, r1hi), d = _mm512_permutex2var_ps(r1lo, odd, r1hi);
    __m512 m = a;
    __m512i at = _mm512_setzero_si512();
    __mmask16 t = _mm512_cmp_ps_mask(b, m, _CMP_GT_OQ) | _mm512_cmp_ps_mask(b, b, _CMP_UNORD_Q);
    m = _mm512_mask_mov_ps(m, t, b);
    at = _mm512_mask_mov_epi32(at, t, off_b);
    t = _mm512_cmp_ps_mask(c, m, _CMP_GT_OQ) | _mm512_cmp_ps_mask(c, c, _CMP_UNORD_Q);
    m = _mm512_mask_mov_ps(m, t, c);
    at = _mm512_mask_mov_epi32(at, t, off_c);
    t = _mm512_cmp_ps_mask(d, m, _CMP_GT_OQ) | _mm512_cmp_ps_mask(d, d, _CMP_UNORD_Q);
    m = _mm512_mask_mov_ps(m, t, d);
    at = _mm512_mask_mov_epi32(at, t, off_d);
    _mm512_mask_storeu_ps(o + ow, out_mask, m);
    if (ix) {
      const __m512i start = _mm512_add_epi64(_mm512_set1_epi64(base + 2 * ow), lane2);
      const __m512i lo = _mm512_add_epi64(start, _mm512_cvtepi32_epi64(_mm512_castsi512_si256(at)));
      const __m512i hi = _mm512_add_epi64(_mm512_add_epi64(start, _mm512_set1_epi64(16)),
                                          _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(at, 1)));
      _mm512_mask_storeu_epi64(ix + ow, static_cast<__mmask8>(out_mask & 0xFF), lo);
      _mm512_mask_storeu_epi64(ix + ow + 8, static_cast<__mmask8>(out_mask >> 8), hi);
    }
  }
}
#endif

template <bool kWithIndices>
void max_rows_2x2(const PoolParams& p, const float* in, float* out, int64_t* idx, int64_t oh0, int64_t oh1) {
  const int64_t W = p.W, OW = p.OW;
  for (int64_t oh = oh0; oh < oh1; ++oh) {
    const float* r0 = in + 2 * oh * W;
    const float* r1 = r0 + W;
    float* o = out + oh * OW;
    int64_t* ix = kWithIndices ? idx + oh * OW : nullptr;
    const int64_t base = 2 * oh * W;
#ifdef __AVX512F__
    if (W < (int64_t(1) << 30)) {  // tap offsets are held as int32 lanes
      max_row_2x2_avx512(r0, r1, o, ix, W, OW, base);
      continue;
    }
#endif
#pragma omp simd
    for (int64_t ow = 0; ow < OW; ++ow) {
      const float a = r0[2 * ow], b = r0[2 * ow + 1], c = r1[2 * ow], d = r1[2 * ow + 1];
      float m = a;
      int64_t at = base + 2 * ow;
      const bool tb = b > m || b != b;
      m = tb ? b : m;
      at = tb ? base + 2 * ow + 1 : at;
      const bool tc = c > m || c != c;
      m = tc ? c : m;
      at = tc ? base + W + 2 * ow : at;
      const bool td = d > m || d != d;
      m = td ? d : m;
      at = td ? base + W + 2 * ow + 1 : at;
      o[ow] = m;
      if (kWithIndices) ix[ow] = at;
    }
  }
}

void max_forward(const PoolParams& p, const float* in, float* out, int64_t* idx, int64_t oh0, int64_t oh1) {
  if (is_plain_2x2(p)) {
    if (idx)
      max_rows_2x2<true>(p, in, out, idx, oh0, oh1);
    else
      max_rows_2x2<false>(p, in, out, nullptr, oh0, oh1);
    return;
  }
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

// 1 / divisor for each output column of row oh, or 0 for windows with no input element.
inline void avg_reciprocal_row(const PoolParams& p, int64_t oh, float* factor) {
  const Window wh = avg_window(oh, p.stride_h, p.pad_h, p.kernel_h, p.H);
  for (int64_t ow = 0; ow < p.OW; ++ow) {
    const Window ww = avg_window(ow, p.stride_w, p.pad_w, p.kernel_w, p.W);
    if (wh.lo >= wh.hi || ww.lo >= ww.hi) {
      factor[ow] = 0.0f;
      continue;
    }
    // Stored as the divisor; callers divide.
    factor[ow] = p.count_include_pad ? divisor(wh.padded, ww.padded) : divisor(wh.hi - wh.lo, ww.hi - ww.lo);
  }
}

void avg_forward(const PoolParams& p, const float* in, float* out, int64_t oh0, int64_t oh1) {
  const int64_t W = p.W, OW = p.OW, sw = p.stride_w;
  if (p.kernel_h == 2 && p.kernel_w == 2 && p.stride_h == 2 && sw == 2 && p.pad_h == 0 && p.pad_w == 0 &&
      2 * p.OH <= p.H && 2 * OW <= W) {
    // 2x2 stride 2 with every window inside the input (DenseNet's transitions): the same sums
    // in the same order as below, and the divisor 4, without the per-column window
    // arithmetic and strided tap loops (3-4 ns per output on AVX-512).
    for (int64_t oh = oh0; oh < oh1; ++oh) {
      const float* r0 = in + 2 * oh * W;
      const float* r1 = r0 + W;
      float* o = out + oh * OW;
#pragma omp simd
      for (int64_t ow = 0; ow < OW; ++ow)
        o[ow] = (((0.0f + r0[2 * ow]) + r0[2 * ow + 1]) + r1[2 * ow] + r1[2 * ow + 1]) / 4.0f;
    }
    return;
  }
  for (int64_t oh = oh0; oh < oh1; ++oh) {
    float* o = out + oh * OW;
    for (int64_t ow = 0; ow < OW; ++ow) o[ow] = 0.0f;
    const Window wh = avg_window(oh, p.stride_h, p.pad_h, p.kernel_h, p.H);
    const TapRange tw = width_taps(p, 1);
    for (int64_t ih = wh.lo; ih < wh.hi; ++ih) {
      const float* row = in + ih * W;
      for (int64_t kw = tw.lo; kw < tw.hi; ++kw) {
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
        const float d = p.count_include_pad ? divisor(wh.padded, ww.padded) : divisor(wh.hi - wh.lo, ww.hi - ww.lo);
        div[j] = empty ? 0.0f : d;
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
    const TapRange tw = width_taps(p, 1);
    for (int64_t ih = wh.lo; ih < wh.hi; ++ih) {
      float* row = gin + ih * W;
      for (int64_t kw = tw.lo; kw < tw.hi; ++kw) {
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
