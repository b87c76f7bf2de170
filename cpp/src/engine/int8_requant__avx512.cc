// requant_row (engine/int8_requant.h) 16 lanes at a time with AVX-512: the output stage was
// about a tenth of an int8 ResNet-50 in 4-lane SSE2. The same float32 operations in the same
// order, lane for lane, so every value equals the SSE2 row's; the last n % 16 values run the
// same vector code under a mask. Every product goes through mul() so GCC cannot fuse it with
// the following add (-mfma is on here): the documented stage rounds twice.
// GCC 12 warns that the intrinsics' own _mm512_undefined_*() "may be used uninitialized"
// once they are inlined here (a known false positive of its headers).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include "engine/int8_requant.h"

namespace cnnnative {
namespace engine {

namespace {
// a * b, rounded: the empty asm makes the product a register value no FMA can absorb.
inline __m512 mul(__m512 a, __m512 b) {
  __m512 r = _mm512_mul_ps(a, b);
  asm("" : "+v"(r));
  return r;
}

inline __m512 stage(const RowStage& s, const int32_t* acc, int64_t j, __mmask16 m) {
  const __m512i a = _mm512_add_epi32(_mm512_maskz_loadu_epi32(m, acc + j), _mm512_set1_epi32(s.corr));
  __m512 v = _mm512_add_ps(mul(_mm512_cvtepi32_ps(a), _mm512_set1_ps(s.scale)), _mm512_set1_ps(s.offset));
  if (s.res_u8) {
    const __m512 r = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(m, s.res_u8 + j)));
    v = _mm512_add_ps(v, mul(r, _mm512_set1_ps(s.res_scale)));
  } else if (s.res_f32) {
    v = _mm512_add_ps(v, mul(_mm512_maskz_loadu_ps(m, s.res_f32 + j), _mm512_set1_ps(s.res_scale)));
  }
  return v;
}

inline void store(const RowStage& s, __m512 v, int64_t j, __mmask16 m) {
  if (s.out_u8) {
    // max_ps returns its second operand when either is NaN: NaN -> lo (as the SSE2 row).
    // Above hi = 255 no min is needed: the unsigned saturating vpmovusdb gives 255 for
    // every t >= 255, including the 0x80000000 that cvtps gives past 2^31 and for +inf.
    __m512 t = _mm512_max_ps(v, _mm512_set1_ps(s.lo));
    if (s.hi < 255.f) t = _mm512_min_ps(t, _mm512_set1_ps(s.hi));
    __m128i b = _mm512_cvtusepi32_epi8(_mm512_cvtps_epi32(t));  // nearest, ties to even (MXCSR default)
    // Keeps vpmovusdb in registers: its store form is microcoded and slow on Zen 4 (perf).
    asm("" : "+v"(b));
    _mm_mask_storeu_epi8(s.out_u8 + j, m, b);
  } else {
    // 0 first: max_ps / min_ps return the second operand when either is NaN, so NaN stays.
    if (s.act == Activation::relu) {
      v = _mm512_max_ps(_mm512_setzero_ps(), v);
    } else if (s.act == Activation::relu6) {
      v = _mm512_min_ps(_mm512_set1_ps(6.f), _mm512_max_ps(_mm512_setzero_ps(), v));
    }
    _mm512_mask_storeu_ps(s.out_f32 + j, m, v);
  }
}
}  // namespace

void requant_row_avx512(const RowStage& stage_in, const int32_t* acc, int64_t n) {
  // A copy the uint8 stores cannot alias, so its fields stay in registers over the loop.
  const RowStage s = stage_in;
  int64_t j = 0;
  for (; j + 16 <= n; j += 16) store(s, stage(s, acc, j, 0xFFFF), j, 0xFFFF);
  if (j < n) {
    const __mmask16 m = static_cast<__mmask16>((1u << (n - j)) - 1);
    store(s, stage(s, acc, j, m), j, m);
  }
}

}  // namespace engine
}  // namespace cnnnative
