// FMA peak probe, avx2: 12 independent chains of 8-lane FMAs, in 12 of the 16 ymm
// registers. Zen 5 has an FMA latency of 4 cycles and 2 FMA pipes, so at least 8 chains
// are needed to fill them.
#include <immintrin.h>

#include "gemm/fma_peak_probe.h"

namespace cnnnative {
namespace gemm_detail {

double fma_loop_avx2(int64_t iterations, float* sink) {
  constexpr int kChains = 12;
  __m256 acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = _mm256_set1_ps(0.001f * static_cast<float>(i));
  const __m256 x = _mm256_set1_ps(0.999999f), y = _mm256_set1_ps(1e-7f);
  for (int64_t it = 0; it < iterations; ++it) {
#pragma GCC unroll 12
    for (int i = 0; i < kChains; ++i) acc[i] = _mm256_fmadd_ps(acc[i], x, y);
  }
  __m256 total = acc[0];
  for (int i = 1; i < kChains; ++i) total = _mm256_add_ps(total, acc[i]);
  alignas(64) float lanes[8];
  _mm256_store_ps(lanes, total);
  *sink = lanes[0];
  return 2.0 * kChains * 8 * static_cast<double>(iterations);
}

}  // namespace gemm_detail
}  // namespace cnnnative
