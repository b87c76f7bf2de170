// int8 peak probe, AVX2 without VNNI: the AVX2 GEMM kernel's inner step, vpmaddwd (16
// int16 products summed in pairs) then vpaddd into 6 independent accumulators. An empty
// asm on the shared operand each round keeps the compiler from hoisting the products out
// of the loop; the 6 weight vectors differ so it cannot merge them.
#include <immintrin.h>

#include "quant/int8_peak_probe.h"

namespace cnnnative::quant::detail {

double int8_loop_avx2(int64_t iterations, int32_t* sink) {
  constexpr int kChains = 6;
  __m256i acc[kChains], b[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = _mm256_set1_epi32(i), b[i] = _mm256_set1_epi16(static_cast<short>(i + 1));
  __m256i a = _mm256_set1_epi16(3);
  for (int64_t it = 0; it < iterations; ++it) {
    asm volatile("" : "+x"(a));
#pragma GCC unroll 6
    for (int i = 0; i < kChains; ++i) acc[i] = _mm256_add_epi32(acc[i], _mm256_madd_epi16(a, b[i]));
  }
  __m256i total = acc[0];
  for (int i = 1; i < kChains; ++i) total = _mm256_add_epi32(total, acc[i]);
  alignas(32) int32_t lanes[8];
  _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), total);
  *sink = lanes[0];
  return 2.0 * kChains * 16 * static_cast<double>(iterations);
}

}  // namespace cnnnative::quant::detail
