// AVX-512 depthwise int8 plane kernel (see depthwise_s8_kernels.h): 16 output columns
// per vector, int32 accumulators, exact.
//
// Products use vpmaddwd on int16 pairs: an activation widened to int32 is the pair
// (x, 0), so with the weight pair (w, 0) vpmaddwd gives x*w. At stride 2 the 32 bytes
// under 16 outputs widen to the pairs (x[2i], x[2i+1]), which with the weight pair
// (w[s], w[s+1]) give two taps in one instruction (dilation 1). Each sum of two products
// is at most 2 * 255 * 128 in magnitude, so nothing saturates. Strides above 2 and
// kernels over 64 taps use the scalar kernel.
#include <immintrin.h>

#include "quant/depthwise_s8_kernels.h"

namespace cnnnative::quant::detail {
namespace {

constexpr int64_t kMaxTaps = 64;  // R*S above this (kernels over 8x8) run the scalar kernel

inline __mmask16 col_mask(int64_t cols) { return cols >= 16 ? 0xFFFF : static_cast<__mmask16>((1u << cols) - 1); }

inline int32_t pair(int32_t lo, int32_t hi) {
  return static_cast<int32_t>((static_cast<uint32_t>(static_cast<uint16_t>(lo))) |
                              (static_cast<uint32_t>(static_cast<uint16_t>(hi)) << 16));
}

void plane_stride1(const ConvParams& p, const uint8_t* xp, int64_t ld, const int8_t* w, int32_t* y) {
  const int64_t OH = p.output_h(), OW = p.output_w(), R = p.R, S = p.S;
  __m512i wv[kMaxTaps];
  for (int64_t t = 0; t < R * S; ++t) wv[t] = _mm512_set1_epi32(pair(w[t], 0));
  for (int64_t oh = 0; oh < OH; ++oh) {
    const uint8_t* base = xp + oh * p.stride_h * ld;
    for (int64_t ow = 0; ow < OW; ow += 16) {
      __m512i acc0 = _mm512_setzero_si512(), acc1 = _mm512_setzero_si512();
      for (int64_t r = 0; r < R; ++r) {
        const uint8_t* row = base + r * p.dilation_h * ld + ow;
        const __m512i* wr = wv + r * S;
        int64_t s = 0;
        for (; s + 1 < S; s += 2) {  // two independent chains
          const __m512i a = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(row + s * p.dilation_w)));
          const __m512i b =
              _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(row + (s + 1) * p.dilation_w)));
          acc0 = _mm512_add_epi32(acc0, _mm512_madd_epi16(a, wr[s]));
          acc1 = _mm512_add_epi32(acc1, _mm512_madd_epi16(b, wr[s + 1]));
        }
        if (s < S) {
          const __m512i a = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(row + s * p.dilation_w)));
          acc0 = _mm512_add_epi32(acc0, _mm512_madd_epi16(a, wr[s]));
        }
      }
      _mm512_mask_storeu_epi32(y + oh * OW + ow, col_mask(OW - ow), _mm512_add_epi32(acc0, acc1));
    }
  }
}

void plane_stride2(const ConvParams& p, const uint8_t* xp, int64_t ld, const int8_t* w, int32_t* y) {
  const int64_t OH = p.output_h(), OW = p.output_w(), R = p.R, S = p.S, dw = p.dilation_w;
  // Taps grouped per row: with dilation 1, taps s and s+1 share one vpmaddwd.
  struct Group { int64_t offset; __m512i w; };
  Group groups[kMaxTaps];
  int64_t row_end[kMaxTaps];
  int64_t n = 0;
  for (int64_t r = 0; r < R; ++r) {
    for (int64_t s = 0; s < S;) {
      if (dw == 1 && s + 1 < S) {
        groups[n++] = {s, _mm512_set1_epi32(pair(w[r * S + s], w[r * S + s + 1]))};
        s += 2;
      } else {
        groups[n++] = {s * dw, _mm512_set1_epi32(pair(w[r * S + s], 0))};
        s += 1;
      }
    }
    row_end[r] = n;
  }
  for (int64_t oh = 0; oh < OH; ++oh) {
    const uint8_t* base = xp + oh * p.stride_h * ld;
    for (int64_t ow = 0; ow < OW; ow += 16) {
      __m512i acc0 = _mm512_setzero_si512(), acc1 = _mm512_setzero_si512();
      int64_t g = 0;
      for (int64_t r = 0; r < R; ++r) {
        const uint8_t* row = base + r * p.dilation_h * ld + 2 * ow;
        for (; g + 1 < row_end[r]; g += 2) {
          const __m512i a = _mm512_cvtepu8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(row + groups[g].offset)));
          const __m512i b =
              _mm512_cvtepu8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(row + groups[g + 1].offset)));
          acc0 = _mm512_add_epi32(acc0, _mm512_madd_epi16(a, groups[g].w));
          acc1 = _mm512_add_epi32(acc1, _mm512_madd_epi16(b, groups[g + 1].w));
        }
        if (g < row_end[r]) {
          const __m512i a = _mm512_cvtepu8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(row + groups[g].offset)));
          acc0 = _mm512_add_epi32(acc0, _mm512_madd_epi16(a, groups[g].w));
          ++g;
        }
      }
      _mm512_mask_storeu_epi32(y + oh * OW + ow, col_mask(OW - ow), _mm512_add_epi32(acc0, acc1));
    }
  }
}

}  // namespace

void dw_plane_avx512(const ConvParams& p, const uint8_t* xp, int64_t ld, const int8_t* w, int32_t* y) {
  if (p.R * p.S > kMaxTaps) return dw_plane_scalar(p, xp, ld, w, y);
  if (p.stride_w == 1) return plane_stride1(p, xp, ld, w, y);
  if (p.stride_w == 2) return plane_stride2(p, xp, ld, w, y);
  dw_plane_scalar(p, xp, ld, w, y);
}

}  // namespace cnnnative::quant::detail
