// Separable max pooling kernels, written once and compiled per ISA (see
// pool/max_pool_separable.h). The including file defines CNNNATIVE_TABLE and carries the
// ISA's flags. The vector paths cover stride-2 column windows of 2 or 3 taps (the classic
// CNN pools); every other window, and the border columns that padding or ceil mode clip,
// take the plain loops, which the compiler vectorises where the access is regular.
#include <cstdint>

#include "core/int_math.h"
#include "pool/max_pool_separable.h"

#if defined(__AVX2__) || defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace cnnnative {
namespace {

// The running maximum m becomes the new tap v when v is greater or NaN: in row-major tap
// order this is PyTorch's rule (first maximum wins, NaN propagates). Two selects rather
// than one with ||, which compiles to a branch that random data mispredicts.
inline float take(float m, float v) {
  const float greater = v > m ? v : m;
  return v != v ? v : greater;
}

// Maximum of the k columns from s on, clipped to the row [0, W): for the border outputs.
inline float clipped_window_max(const float* r, int64_t s, int64_t k, int64_t W) {
  const int64_t lo = s < 0 ? 0 : s;
  const int64_t hi = k < W - s ? s + k : W;  // min(s + k, W) without forming s + k
  float m = r[lo];
  for (int64_t i = lo + 1; i < hi; ++i) m = take(m, r[i]);
  return m;
}

#if defined(__AVX512F__)
constexpr int64_t kLanes = 16;
inline __m512 take_vec(__m512 m, __m512 v) {
  // vmaxps(v, m) is v > m ? v : m (m on ties and on any NaN); then a NaN v replaces it.
  // One compare into a mask register instead of two and an or.
  return _mm512_mask_mov_ps(_mm512_max_ps(v, m), _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q), v);
}
// 16 outputs of a stride-2 window of k = 2 or 3 columns starting at p (reads p[0, 34)):
// even and odd columns are gathered from two loads with one two-source permute each.
inline void stride2_chunk(const float* p, int64_t k, float* h) {
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
  const __m512 a = _mm512_loadu_ps(p), b = _mm512_loadu_ps(p + 16);
  __m512 m = _mm512_permutex2var_ps(a, even, b);
  m = take_vec(m, _mm512_permutex2var_ps(a, odd, b));
  if (k == 3) m = take_vec(m, _mm512_permutex2var_ps(_mm512_loadu_ps(p + 2), even, _mm512_loadu_ps(p + 18)));
  _mm512_storeu_ps(h, m);
}
#elif defined(__AVX2__)
constexpr int64_t kLanes = 8;
inline __m256 take_vec(__m256 m, __m256 v) {
  // vmaxps(v, m) is v > m ? v : m (m on ties and on any NaN); then a NaN v replaces it.
  return _mm256_blendv_ps(_mm256_max_ps(v, m), v, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
}
// 8 outputs of a stride-2 window of k = 2 or 3 columns starting at p (reads p[0, 18)).
// The in-lane shuffles leave the outputs in the order 0 1 4 5 | 2 3 6 7 for every tap
// alike, so the taps are combined in that order and put back in order once, at the store.
inline void stride2_chunk(const float* p, int64_t k, float* h) {
  const __m256 a = _mm256_loadu_ps(p), b = _mm256_loadu_ps(p + 8);
  __m256 m = _mm256_shuffle_ps(a, b, 0x88);             // columns 0 2 8 10 | 4 6 12 14
  m = take_vec(m, _mm256_shuffle_ps(a, b, 0xDD));      // columns 1 3 9 11 | 5 7 13 15
  if (k == 3)                                          // columns 2 4 10 12 | 6 8 14 16
    m = take_vec(m, _mm256_shuffle_ps(_mm256_loadu_ps(p + 2), _mm256_loadu_ps(p + 10), 0x88));
  _mm256_storeu_ps(h, _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(m), 0xD8)));
}
#endif

#if defined(__AVX512F__)
// The lanes [0, n) of a mask, n clamped to [0, 16].
inline __mmask16 first_lanes(int64_t n) {
  return n <= 0 ? __mmask16(0) : n >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << n) - 1u);
}
// Interior outputs [ow, hi) of a stride-2, 2- or 3-column window, 16 at a time with masked
// loads that stop at the row's end, so rows shorter than a full chunk's 34 columns
// (Inception's 35- and 17-wide planes) stay in vectors instead of the scalar loop. Each
// output's taps come from loaded lanes: its last column is inside the row.
inline int64_t reduce_stride2_masked(const float* r, int64_t W, int64_t k, int64_t pad, int64_t ow, int64_t hi,
                                     float* h) {
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
  for (; ow < hi; ow += 16) {
    const float* p = r + 2 * ow - pad;
    const int64_t avail = W - (2 * ow - pad);  // columns from p to the row's end
    const __m512 a = _mm512_maskz_loadu_ps(first_lanes(avail), p);
    const __m512 b = _mm512_maskz_loadu_ps(first_lanes(avail - 16), p + 16);
    __m512 m = _mm512_permutex2var_ps(a, even, b);
    m = take_vec(m, _mm512_permutex2var_ps(a, odd, b));
    if (k == 3) {
      const __m512 c = _mm512_maskz_loadu_ps(first_lanes(avail - 2), p + 2);
      const __m512 d = _mm512_maskz_loadu_ps(first_lanes(avail - 18), p + 18);
      m = take_vec(m, _mm512_permutex2var_ps(c, even, d));
    }
    _mm512_mask_storeu_ps(h + ow, first_lanes(hi - ow), m);
  }
  return hi;
}
#endif

#if defined(__AVX2__) || defined(__AVX512F__)
// Interior outputs [ow, hi) (windows wholly inside the row) of a stride-2, 2- or 3-column
// window, kLanes at a time while the loads stay inside the row; the last chunk overlaps
// the one before rather than leaving a long tail. Returns the first output not written.
inline int64_t reduce_stride2_vector(const float* r, int64_t W, int64_t k, int64_t pad, int64_t ow, int64_t hi,
                                     float* h) {
  const int64_t span = 2 * kLanes + (k == 3 ? 2 : 0);  // columns one chunk reads
  if (W - span + pad < 0) return ow;
  const int64_t last_safe = (W - span + pad) / 2;  // largest chunk start whose reads fit
  const int64_t first = ow;
  for (; ow + kLanes <= hi && ow <= last_safe; ow += kLanes) stride2_chunk(r + 2 * ow - pad, k, h + ow);
  const int64_t tail_start = hi - kLanes < last_safe ? hi - kLanes : last_safe;
  if (ow < hi && tail_start >= first && tail_start + kLanes > ow) {
    stride2_chunk(r + 2 * tail_start - pad, k, h + tail_start);
    ow = tail_start + kLanes;
  }
  return ow;
}
#endif

void reduce_row(const MaxPoolWindow& w, const float* r, float* h) {
  const int64_t W = w.W, OW = w.OW, k = w.kernel_w, s = w.stride_w, pad = w.pad_left;
  // Interior outputs [lo, hi): column window [ow*s - pad, ow*s - pad + k) inside [0, W).
  int64_t hi = W - k + pad >= 0 ? (W - k + pad) / s + 1 : 0;
  if (hi > OW) hi = OW;
  int64_t lo = ceil_div(pad, s);
  if (lo > hi) lo = hi;
  for (int64_t ow = 0; ow < lo; ++ow) h[ow] = clipped_window_max(r, ow * s - pad, k, W);
  int64_t ow = lo;
#if defined(__AVX2__) || defined(__AVX512F__)
#if defined(__AVX512F__)
  if (s == 2 && (k == 2 || k == 3)) ow = reduce_stride2_masked(r, W, k, pad, ow, hi, h);
#else
  if (s == 2 && (k == 2 || k == 3)) ow = reduce_stride2_vector(r, W, k, pad, ow, hi, h);
#endif
#endif
  // The rest of the interior: tap by tap over the outputs (regular loads, vectorised).
  const int64_t rest = ow;
#pragma omp simd
  for (int64_t i = rest; i < hi; ++i) h[i] = r[i * s - pad];
  for (int64_t t = 1; t < k; ++t) {
#pragma omp simd
    for (int64_t i = rest; i < hi; ++i) h[i] = take(h[i], r[i * s - pad + t]);
  }
  for (int64_t i = hi; i < OW; ++i) h[i] = clipped_window_max(r, i * s - pad, k, W);
}

void combine_rows(const MaxPoolWindow& w, const float* reduced, int64_t oh, float* out) {
  const int64_t OW = w.OW, start = oh * w.stride_h - w.pad_top;
  const int64_t lo = start < 0 ? 0 : start;
  const int64_t hi = w.kernel_h < w.H - start ? start + w.kernel_h : w.H;
  const float* first = reduced + lo * OW;
  if (hi - lo == 3) {  // the common windows in one pass over the output row
    const float* second = first + OW;
    const float* third = second + OW;
#pragma omp simd
    for (int64_t i = 0; i < OW; ++i) out[i] = take(take(first[i], second[i]), third[i]);
    return;
  }
  if (hi - lo == 2) {
    const float* second = first + OW;
#pragma omp simd
    for (int64_t i = 0; i < OW; ++i) out[i] = take(first[i], second[i]);
    return;
  }
#pragma omp simd
  for (int64_t i = 0; i < OW; ++i) out[i] = first[i];
  for (int64_t ih = lo + 1; ih < hi; ++ih) {
    const float* row = reduced + ih * OW;
#pragma omp simd
    for (int64_t i = 0; i < OW; ++i) out[i] = take(out[i], row[i]);
  }
}

#if defined(__AVX512F__)
// Whole planes of an unpadded window whose every window lies inside the input, stride 2
// across with 2 or 3 columns (max_unpadded_applies): the rows the windows reach are
// reduced with masked vectors, then each output row takes its kernel_h reduced rows in
// order, 16 outputs at a time. No per-row calls or scalar tails: on Inception's 35- and
// 17-wide planes those cost more than the maxima. With stride 2 down and up to 3 rows
// (the usual windows), even and odd reduced rows go to two arrays, so that output row oh
// takes rows oh and oh + 1 of the even array and row oh of the odd one: the same offsets
// for every output, so the whole plane combines as one flat loop (19 vectors for a 17x17
// output instead of 17 rows of 16 + 1).
void planes_unpadded(const MaxPoolWindow& w, const float* x, float* y, int64_t n, float* reduced) {
  const int64_t W = w.W, OW = w.OW, OH = w.OH, kh = w.kernel_h, sh = w.stride_h;
  const int64_t rows = (OH - 1) * sh + kh;  // input rows some window reaches
  const bool by_parity = sh == 2 && kh <= 3;
  // Plane p's rows are reduced into one half of the buffer while plane p - 1's are combined
  // from the other: a load right after the masked stores that wrote its lanes waits for
  // them to retire (no store forwarding across several masked stores), which on 17x17
  // planes cost more than the maxima.
  const int64_t half = rows * OW;
  auto reduce = [&](const float* xp, float* buf) {
    float* odd = buf + ((rows + 1) / 2) * OW;
    for (int64_t ih = 0; ih < rows; ++ih) {
      float* dst = by_parity ? (ih % 2 ? odd : buf) + (ih / 2) * OW : buf + ih * OW;
      reduce_stride2_masked(xp + ih * W, W, w.kernel_w, 0, 0, OW, dst);
    }
  };
  auto combine = [&](const float* buf, float* yp) {
    if (by_parity) {
      const float* odd = buf + ((rows + 1) / 2) * OW;
      const int64_t total = OH * OW;
      for (int64_t j = 0; j < total; j += 16) {
        const __mmask16 m = first_lanes(total - j);
        __m512 v = _mm512_maskz_loadu_ps(m, buf + j);
        if (kh >= 2) v = take_vec(v, _mm512_maskz_loadu_ps(m, odd + j));
        if (kh == 3) v = take_vec(v, _mm512_maskz_loadu_ps(m, buf + OW + j));
        _mm512_mask_storeu_ps(yp + j, m, v);
      }
      return;
    }
    for (int64_t oh = 0; oh < OH; ++oh) {
      const float* first = buf + oh * sh * OW;
      for (int64_t ow = 0; ow < OW; ow += 16) {
        const __mmask16 m = first_lanes(OW - ow);
        __m512 v = _mm512_maskz_loadu_ps(m, first + ow);
        for (int64_t r = 1; r < kh; ++r) v = take_vec(v, _mm512_maskz_loadu_ps(m, first + r * OW + ow));
        _mm512_mask_storeu_ps(yp + oh * OW + ow, m, v);
      }
    }
  };
  for (int64_t plane = 0; plane < n; ++plane) {
    reduce(x + plane * w.H * W, reduced + (plane % 2) * half);
    if (plane > 0) combine(reduced + ((plane - 1) % 2) * half, y + (plane - 1) * OH * OW);
  }
  if (n > 0) combine(reduced + ((n - 1) % 2) * half, y + (n - 1) * OH * OW);
}
#endif

}  // namespace

#if defined(__AVX512F__)
extern const MaxPoolSeparableKernels CNNNATIVE_TABLE = {reduce_row, combine_rows, planes_unpadded};
#else
extern const MaxPoolSeparableKernels CNNNATIVE_TABLE = {reduce_row, combine_rows, nullptr};
#endif

}  // namespace cnnnative
