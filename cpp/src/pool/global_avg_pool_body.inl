// Global average pooling kernels, one body compiled per ISA (see pool/global_avg_pool.h):
// the including file defines CNNNATIVE_TABLE and carries the ISA's flags. The 16 running
// sums are one AVX-512 vector, two AVX2 vectors, or an array; the lanes never hold -0.0
// (they start at +0.0), so adding a zero-filled tail to them changes nothing.
#include <cstdint>

#include "pool/global_avg_pool.h"

#if defined(__AVX2__) || defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace cnnnative {
namespace {

#if defined(__AVX512F__)
float plane_sum(const float* x, int64_t hw) {
  __m512 acc = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= hw; i += 16) acc = _mm512_add_ps(acc, _mm512_loadu_ps(x + i));
  if (i < hw) acc = _mm512_add_ps(acc, _mm512_maskz_loadu_ps(__mmask16((1u << (hw - i)) - 1u), x + i));
  __m256 h = _mm256_add_ps(_mm512_castps512_ps256(acc),
                           _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(acc), 1)));  // 8 apart
  __m128 q = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));                     // 4 apart
  q = _mm_add_ps(q, _mm_movehl_ps(q, q));                                                            // 2 apart
  q = _mm_add_ss(q, _mm_movehdup_ps(q));                                                             // 1 apart
  return _mm_cvtss_f32(q);
}
#elif defined(__AVX2__)
float plane_sum(const float* x, int64_t hw) {
  __m256 lo = _mm256_setzero_ps(), hi = _mm256_setzero_ps();  // sums 0-7 and 8-15
  int64_t i = 0;
  for (; i + 16 <= hw; i += 16) {
    lo = _mm256_add_ps(lo, _mm256_loadu_ps(x + i));
    hi = _mm256_add_ps(hi, _mm256_loadu_ps(x + i + 8));
  }
  if (i < hw) {
    alignas(32) float tail[16] = {};
    for (int64_t j = 0; j < hw - i; ++j) tail[j] = x[i + j];
    lo = _mm256_add_ps(lo, _mm256_load_ps(tail));
    hi = _mm256_add_ps(hi, _mm256_load_ps(tail + 8));
  }
  const __m256 h = _mm256_add_ps(lo, hi);                                         // 8 apart
  __m128 q = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));  // 4 apart
  q = _mm_add_ps(q, _mm_movehl_ps(q, q));                                         // 2 apart
  q = _mm_add_ss(q, _mm_movehdup_ps(q));                                          // 1 apart
  return _mm_cvtss_f32(q);
}
#else
float plane_sum(const float* x, int64_t hw) {
  float lanes[16] = {};
  int64_t i = 0;
  for (; i + 16 <= hw; i += 16)
    for (int k = 0; k < 16; ++k) lanes[k] += x[i + k];
  for (; i < hw; ++i) lanes[i & 15] += x[i];
  for (int width = 8; width >= 1; width /= 2)
    for (int k = 0; k < width; ++k) lanes[k] += lanes[k + width];
  return lanes[0];
}
#endif

void means(const float* x, int64_t planes, int64_t hw, float* y) {
  const float n = static_cast<float>(hw);
  for (int64_t p = 0; p < planes; ++p) y[p] = plane_sum(x + p * hw, hw) / n;
}

}  // namespace

extern const GlobalAvgPoolKernels CNNNATIVE_TABLE = {means};

}  // namespace cnnnative
