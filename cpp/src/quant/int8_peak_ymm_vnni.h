// int8 peak probe body for the 256-bit VNNI kernels (gemm_s8_ymm_vnni.h): 12 independent
// ymm vpdpbusd chains (32 u8 x s8 multiply-adds each), the accumulator tied in asm as in
// int8_peak__avx512vnni.cc. The including file defines CN_YMM_PEAK_DPBUSD (the mnemonic:
// "%{vex%} vpdpbusd" for AVX-VNNI, "vpdpbusd" for the EVEX twin) and CN_YMM_PEAK_LOOP (the
// function's name).
#include <immintrin.h>

#include "quant/int8_peak_probe.h"

namespace cnnnative::quant::detail {
namespace {
inline __m256i ymm_dpbusd(__m256i acc, __m256i u8, __m256i s8) {
  asm volatile(CN_YMM_PEAK_DPBUSD " %2, %1, %0" : "+x"(acc) : "x"(u8), "x"(s8));
  return acc;
}
}  // namespace

double CN_YMM_PEAK_LOOP(int64_t iterations, int32_t* sink) {
  constexpr int kChains = 12;
  __m256i acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = _mm256_set1_epi32(i);
  const __m256i a = _mm256_set1_epi8(3), b = _mm256_set1_epi8(-2);
  for (int64_t it = 0; it < iterations; ++it) {
#pragma GCC unroll 12
    for (int i = 0; i < kChains; ++i) acc[i] = ymm_dpbusd(acc[i], a, b);
  }
  __m256i total = acc[0];
  for (int i = 1; i < kChains; ++i) total = _mm256_add_epi32(total, acc[i]);
  alignas(32) int32_t lanes[8];
  _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), total);
  *sink = lanes[0];
  return 2.0 * kChains * 32 * static_cast<double>(iterations);
}

}  // namespace cnnnative::quant::detail

#undef CN_YMM_PEAK_DPBUSD
#undef CN_YMM_PEAK_LOOP
