// FMA peak probe, avx512: 24 independent chains of 16-lane FMAs. Zen 5 has an FMA latency
// of 4 cycles and 2 FMA pipes, so at least 8 chains are needed to fill them; 24 leaves
// margin for other microarchitectures and still fits the register file.
#include <immintrin.h>

#include "gemm/fma_peak_probe.h"

namespace cnnnative {
namespace gemm_detail {

double fma_loop_avx512(int64_t iterations, float* sink) {
  constexpr int kChains = 24;
  __m512 acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = _mm512_set1_ps(0.001f * static_cast<float>(i));
  const __m512 x = _mm512_set1_ps(0.999999f), y = _mm512_set1_ps(1e-7f);
  for (int64_t it = 0; it < iterations; ++it) {
#pragma GCC unroll 24
    for (int i = 0; i < kChains; ++i) acc[i] = _mm512_fmadd_ps(acc[i], x, y);
  }
  __m512 total = acc[0];
  for (int i = 1; i < kChains; ++i) total = _mm512_add_ps(total, acc[i]);
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, total);
  *sink = lanes[0];
  return 2.0 * kChains * 16 * static_cast<double>(iterations);
}

}  // namespace gemm_detail
}  // namespace cnnnative
