// requant_row (engine/int8_requant.h) 8 lanes at a time with AVX2, for the CPUs without
// AVX-512 (the SSE2 row is 4 lanes): the same float32 operations in the same order, lane
// for lane, so every value equals the SSE2 and AVX-512 rows'. Every product goes through
// mul() so GCC cannot fuse it with the following add (-mfma is on here): the documented
// stage rounds twice. The last n % 16 values run the SSE2 row.
#include <immintrin.h>

#include "engine/int8_requant.h"

namespace cnnnative {
namespace engine {

namespace {
// a * b, rounded: the empty asm makes the product a register value no FMA can absorb.
inline __m256 mul(__m256 a, __m256 b) {
  __m256 r = _mm256_mul_ps(a, b);
  asm("" : "+x"(r));
  return r;
}

// Values [j, j + 16) of the row.
inline void block16(const RowStage& s, const int32_t* acc, int64_t j) {
  const __m256i vcorr = _mm256_set1_epi32(s.corr);
  const __m256 vscale = _mm256_set1_ps(s.scale), voffset = _mm256_set1_ps(s.offset);
  const __m256 vrs = _mm256_set1_ps(s.res_scale), vlo = _mm256_set1_ps(s.lo), vhi = _mm256_set1_ps(s.hi);
  const __m256 v0 = _mm256_setzero_ps(), v6 = _mm256_set1_ps(6.f);
  __m256 v[2];
  for (int q = 0; q < 2; ++q) {
    const __m256i a = _mm256_add_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(acc + j + 8 * q)), vcorr);
    v[q] = _mm256_add_ps(mul(_mm256_cvtepi32_ps(a), vscale), voffset);
  }
  if (s.res_u8) {
    for (int q = 0; q < 2; ++q) {
      const __m256i r = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(s.res_u8 + j + 8 * q)));
      v[q] = _mm256_add_ps(v[q], mul(_mm256_cvtepi32_ps(r), vrs));
    }
  } else if (s.res_f32) {
    for (int q = 0; q < 2; ++q) v[q] = _mm256_add_ps(v[q], mul(_mm256_loadu_ps(s.res_f32 + j + 8 * q), vrs));
  }
  if (s.out_u8) {
    // max_ps returns its second operand when either is NaN: NaN -> lo (as the SSE2 row).
    const __m256i q0 = _mm256_cvtps_epi32(_mm256_min_ps(_mm256_max_ps(v[0], vlo), vhi));
    const __m256i q1 = _mm256_cvtps_epi32(_mm256_min_ps(_mm256_max_ps(v[1], vlo), vhi));
    // packs works within 128-bit lanes: [q0 0-3, q1 0-3 | q0 4-7, q1 4-7] -> q0 | q1.
    const __m256i w = _mm256_permute4x64_epi64(_mm256_packs_epi32(q0, q1), 0xD8);
    const __m128i b = _mm_packus_epi16(_mm256_castsi256_si128(w), _mm256_extracti128_si256(w, 1));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(s.out_u8 + j), b);
  } else {
    // 0 first: max_ps / min_ps return the second operand when either is NaN, so NaN stays.
    for (int q = 0; q < 2; ++q) {
      if (s.act == Activation::relu) v[q] = _mm256_max_ps(v0, v[q]);
      else if (s.act == Activation::relu6) v[q] = _mm256_min_ps(v6, _mm256_max_ps(v0, v[q]));
      _mm256_storeu_ps(s.out_f32 + j + 8 * q, v[q]);
    }
  }
}
}  // namespace

void requant_row_avx2(const RowStage& stage_in, const int32_t* acc, int64_t n) {
  const RowStage s = stage_in;  // a copy the uint8 stores cannot alias (fields kept in registers)
  int64_t j = 0;
  for (; j + 16 <= n; j += 16) block16(s, acc, j);
  if (j == n) return;
  RowStage t = s;  // the last n - j < 16 values: the SSE2 row (int8_requant.cc, no FMA)
  if (t.res_u8) t.res_u8 += j;
  if (t.res_f32) t.res_f32 += j;
  if (t.out_u8) t.out_u8 += j;
  if (t.out_f32) t.out_f32 += j;
  requant_row(t, acc + j, n - j);
}

}  // namespace engine
}  // namespace cnnnative
