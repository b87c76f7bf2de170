// The SSE2 rows of engine/int8_requant.h, compiled here with the baseline flags only: in a
// header, inlined into an ISA file built with -mfma, GCC fused their products (the
// documented stage rounds twice, and every ISA must give the same bytes).
#include "engine/int8_requant.h"

#include <emmintrin.h>

namespace cnnnative {
namespace engine {

// One row of n values: acc (int32) -> out.
void requant_row(const RowStage& stage_in, const int32_t* acc, int64_t n) {
  const RowStage s = stage_in;  // a copy the uint8 stores cannot alias (fields kept in registers)
  const __m128i vcorr = _mm_set1_epi32(s.corr);
  const __m128 vscale = _mm_set1_ps(s.scale), voffset = _mm_set1_ps(s.offset), vrs = _mm_set1_ps(s.res_scale);
  const __m128 vlo = _mm_set1_ps(s.lo), vhi = _mm_set1_ps(s.hi);
  const __m128 v0 = _mm_setzero_ps(), v6 = _mm_set1_ps(6.f);
  const __m128i zi = _mm_setzero_si128();
  int64_t j = 0;
  for (; j + 16 <= n; j += 16) {
    __m128 v[4];
    for (int q = 0; q < 4; ++q) {
      const __m128i a = _mm_add_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(acc + j + 4 * q)), vcorr);
      v[q] = _mm_add_ps(_mm_mul_ps(_mm_cvtepi32_ps(a), vscale), voffset);
    }
    if (s.res_u8) {
      const __m128i r8 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s.res_u8 + j));
      const __m128i lo = _mm_unpacklo_epi8(r8, zi), hi = _mm_unpackhi_epi8(r8, zi);
      const __m128i r32[4] = {_mm_unpacklo_epi16(lo, zi), _mm_unpackhi_epi16(lo, zi), _mm_unpacklo_epi16(hi, zi),
                              _mm_unpackhi_epi16(hi, zi)};
      for (int q = 0; q < 4; ++q) v[q] = _mm_add_ps(v[q], _mm_mul_ps(_mm_cvtepi32_ps(r32[q]), vrs));
    } else if (s.res_f32) {
      for (int q = 0; q < 4; ++q) v[q] = _mm_add_ps(v[q], _mm_mul_ps(_mm_loadu_ps(s.res_f32 + j + 4 * q), vrs));
    }
    if (s.out_u8) {
      __m128i qi[4];
      for (int q = 0; q < 4; ++q)  // max_ps returns its second operand when either is NaN: NaN -> lo
        qi[q] = _mm_cvtps_epi32(_mm_min_ps(_mm_max_ps(v[q], vlo), vhi));
      const __m128i w0 = _mm_packs_epi32(qi[0], qi[1]), w1 = _mm_packs_epi32(qi[2], qi[3]);
      _mm_storeu_si128(reinterpret_cast<__m128i*>(s.out_u8 + j), _mm_packus_epi16(w0, w1));
    } else {
      // 0 first: max_ps / min_ps return the second operand when either is NaN, so NaN stays.
      if (s.act == Activation::relu) {
        for (int q = 0; q < 4; ++q) v[q] = _mm_max_ps(v0, v[q]);
      } else if (s.act == Activation::relu6) {
        for (int q = 0; q < 4; ++q) v[q] = _mm_min_ps(v6, _mm_max_ps(v0, v[q]));
      }
      for (int q = 0; q < 4; ++q) _mm_storeu_ps(s.out_f32 + j + 4 * q, v[q]);
    }
  }
  for (; j < n; ++j) {
    __m128 v = _mm_add_ss(_mm_mul_ss(_mm_cvtsi32_ss(v0, acc[j] + s.corr), vscale), voffset);
    if (s.res_u8) v = _mm_add_ss(v, _mm_mul_ss(_mm_cvtsi32_ss(v0, int32_t(s.res_u8[j])), vrs));
    else if (s.res_f32) v = _mm_add_ss(v, _mm_mul_ss(_mm_set_ss(s.res_f32[j]), vrs));
    if (s.out_u8) {
      s.out_u8[j] = uint8_t(_mm_cvtss_si32(_mm_min_ss(_mm_max_ss(v, vlo), vhi)));
    } else {
      if (s.act == Activation::relu) v = _mm_max_ss(v0, v);
      else if (s.act == Activation::relu6) v = _mm_min_ss(v6, _mm_max_ss(v0, v));
      s.out_f32[j] = _mm_cvtss_f32(v);
    }
  }
}

// y = clamp(rint(x * inv + zero), 0, 255) (NaN -> 0).
void quantize_row(const float* x, int64_t n, float inv, float zero, uint8_t* y) {
  const __m128 vinv = _mm_set1_ps(inv), vzero = _mm_set1_ps(zero), v0 = _mm_setzero_ps(), v255 = _mm_set1_ps(255.f);
  int64_t j = 0;
  for (; j + 16 <= n; j += 16) {
    __m128i qi[4];
    for (int q = 0; q < 4; ++q) {
      __m128 t = _mm_add_ps(_mm_mul_ps(_mm_loadu_ps(x + j + 4 * q), vinv), vzero);
      qi[q] = _mm_cvtps_epi32(_mm_min_ps(_mm_max_ps(t, v0), v255));
    }
    _mm_storeu_si128(reinterpret_cast<__m128i*>(y + j),
                     _mm_packus_epi16(_mm_packs_epi32(qi[0], qi[1]), _mm_packs_epi32(qi[2], qi[3])));
  }
  for (; j < n; ++j) {
    __m128 t = _mm_add_ss(_mm_mul_ss(_mm_set_ss(x[j]), _mm_set_ss(inv)), _mm_set_ss(zero));
    y[j] = uint8_t(_mm_cvtss_si32(_mm_min_ss(_mm_max_ss(t, _mm_setzero_ps()), _mm_set_ss(255.f))));
  }
}

// y = scale * (q - zero).
void dequantize_row(const uint8_t* x, int64_t n, float scale, int32_t zero, float* y) {
  const __m128 vs = _mm_set1_ps(scale);
  const __m128i vz = _mm_set1_epi32(zero), zi = _mm_setzero_si128();
  int64_t j = 0;
  for (; j + 16 <= n; j += 16) {
    const __m128i r8 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x + j));
    const __m128i lo = _mm_unpacklo_epi8(r8, zi), hi = _mm_unpackhi_epi8(r8, zi);
    const __m128i r32[4] = {_mm_unpacklo_epi16(lo, zi), _mm_unpackhi_epi16(lo, zi), _mm_unpacklo_epi16(hi, zi),
                            _mm_unpackhi_epi16(hi, zi)};
    for (int q = 0; q < 4; ++q) _mm_storeu_ps(y + j + 4 * q, _mm_mul_ps(vs, _mm_cvtepi32_ps(_mm_sub_epi32(r32[q], vz))));
  }
  for (; j < n; ++j) y[j] = scale * float(int32_t(x[j]) - zero);
}

}  // namespace engine
}  // namespace cnnnative
