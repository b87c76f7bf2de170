// AVX2 depthwise int8 plane kernel (see depthwise_s8_kernels.h): 8 output columns per
// vector, int32 accumulators, exact. The AVX-512 kernel's scheme at half the width: an
// activation widened to int32 is the int16 pair (x, 0), and vpmaddwd with the weight pair
// (w, 0) gives x*w; at stride 2 the 16 bytes under 8 outputs widen to the pairs
// (x[2i], x[2i+1]), which with (w[s], w[s+1]) give two taps per instruction (dilation 1).
// Each sum of two products is at most 2 * 255 * 128 in magnitude: nothing saturates.
// Strides above 2 and kernels over 64 taps use the scalar kernel.
#include <immintrin.h>

#include "quant/depthwise_s8_kernels.h"

namespace cnnnative::quant::detail {
namespace {

constexpr int64_t kMaxTaps = 64;

inline int32_t pair(int32_t lo, int32_t hi) {
  return static_cast<int32_t>((static_cast<uint32_t>(static_cast<uint16_t>(lo))) |
                              (static_cast<uint32_t>(static_cast<uint16_t>(hi)) << 16));
}

// Stores the first `cols` (<= 8) lanes of v at y.
inline void store_cols(int32_t* y, __m256i v, int64_t cols) {
  if (cols >= 8) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(y), v);
    return;
  }
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  _mm256_maskstore_epi32(y, _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int32_t>(cols)), lane), v);
}

// 8 bytes at p as int32 lanes.
inline __m256i widen8(const uint8_t* p) {
  return _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)));
}

// 16 bytes at p as int16 lanes.
inline __m256i widen16(const uint8_t* p) {
  return _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}

void plane_stride1(const ConvParams& p, const uint8_t* xp, int64_t ld, const int8_t* w, int32_t* y) {
  const int64_t OH = p.output_h(), OW = p.output_w(), R = p.R, S = p.S;
  __m256i wv[kMaxTaps];
  for (int64_t t = 0; t < R * S; ++t) wv[t] = _mm256_set1_epi32(pair(w[t], 0));
  for (int64_t oh = 0; oh < OH; ++oh) {
    const uint8_t* base = xp + oh * p.stride_h * ld;
    for (int64_t ow = 0; ow < OW; ow += 8) {
      __m256i acc0 = _mm256_setzero_si256(), acc1 = _mm256_setzero_si256();
      for (int64_t r = 0; r < R; ++r) {
        const uint8_t* row = base + r * p.dilation_h * ld + ow;
        const __m256i* wr = wv + r * S;
        int64_t s = 0;
        for (; s + 1 < S; s += 2) {  // two independent chains
          acc0 = _mm256_add_epi32(acc0, _mm256_madd_epi16(widen8(row + s * p.dilation_w), wr[s]));
          acc1 = _mm256_add_epi32(acc1, _mm256_madd_epi16(widen8(row + (s + 1) * p.dilation_w), wr[s + 1]));
        }
        if (s < S) acc0 = _mm256_add_epi32(acc0, _mm256_madd_epi16(widen8(row + s * p.dilation_w), wr[s]));
      }
      store_cols(y + oh * OW + ow, _mm256_add_epi32(acc0, acc1), OW - ow);
    }
  }
}

void plane_stride2(const ConvParams& p, const uint8_t* xp, int64_t ld, const int8_t* w, int32_t* y) {
  const int64_t OH = p.output_h(), OW = p.output_w(), R = p.R, S = p.S, dw = p.dilation_w;
  // Taps grouped per row: with dilation 1, taps s and s+1 share one vpmaddwd.
  struct Group { int64_t offset; __m256i w; };
  Group groups[kMaxTaps];
  int64_t row_end[kMaxTaps];
  int64_t n = 0;
  for (int64_t r = 0; r < R; ++r) {
    for (int64_t s = 0; s < S;) {
      if (dw == 1 && s + 1 < S) {
        groups[n++] = {s, _mm256_set1_epi32(pair(w[r * S + s], w[r * S + s + 1]))};
        s += 2;
      } else {
        groups[n++] = {s * dw, _mm256_set1_epi32(pair(w[r * S + s], 0))};
        s += 1;
      }
    }
    row_end[r] = n;
  }
  for (int64_t oh = 0; oh < OH; ++oh) {
    const uint8_t* base = xp + oh * p.stride_h * ld;
    for (int64_t ow = 0; ow < OW; ow += 8) {
      __m256i acc0 = _mm256_setzero_si256(), acc1 = _mm256_setzero_si256();
      int64_t g = 0;
      for (int64_t r = 0; r < R; ++r) {
        const uint8_t* row = base + r * p.dilation_h * ld + 2 * ow;
        for (; g + 1 < row_end[r]; g += 2) {
          acc0 = _mm256_add_epi32(acc0, _mm256_madd_epi16(widen16(row + groups[g].offset), groups[g].w));
          acc1 = _mm256_add_epi32(acc1, _mm256_madd_epi16(widen16(row + groups[g + 1].offset), groups[g + 1].w));
        }
        if (g < row_end[r]) {
          acc0 = _mm256_add_epi32(acc0, _mm256_madd_epi16(widen16(row + groups[g].offset), groups[g].w));
          ++g;
        }
      }
      store_cols(y + oh * OW + ow, _mm256_add_epi32(acc0, acc1), OW - ow);
    }
  }
}

}  // namespace

void dw_plane_avx2(const ConvParams& p, const uint8_t* xp, int64_t ld, const int8_t* w, int32_t* y) {
  if (p.R * p.S > kMaxTaps) return dw_plane_scalar(p, xp, ld, w, y);
  if (p.stride_w == 1) return plane_stride1(p, xp, ld, w, y);
  if (p.stride_w == 2) return plane_stride2(p, xp, ld, w, y);
  dw_plane_scalar(p, xp, ld, w, y);
}

}  // namespace cnnnative::quant::detail
