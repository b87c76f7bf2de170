// int8 peak probe, AVX512-VNNI: 24 independent vpdpbusd chains (64 u8 x s8 multiply-adds
// each). Enough chains for a 5-cycle latency at 2 per cycle, with margin. Measured on
// the AMD EPYC (Zen 4 class) here: 1 zmm vpdpbusd per cycle, 4x the fp32 FMA rate in ops.
#include <immintrin.h>

#include "quant/int8_peak_probe.h"

namespace cnnnative::quant::detail {
namespace {
// The accumulator tied in asm: with the intrinsic GCC 12 copies (and spills) every chain
// around each instruction, which measured half the rate.
inline __m512i dpbusd(__m512i acc, __m512i u8, __m512i s8) {
  asm volatile("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(u8), "v"(s8));
  return acc;
}
}  // namespace

double int8_loop_vnni(int64_t iterations, int32_t* sink) {
  constexpr int kChains = 24;
  __m512i acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = _mm512_set1_epi32(i);
  const __m512i a = _mm512_set1_epi8(3), b = _mm512_set1_epi8(-2);
  for (int64_t it = 0; it < iterations; ++it) {
#pragma GCC unroll 24
    for (int i = 0; i < kChains; ++i) acc[i] = dpbusd(acc[i], a, b);
  }
  __m512i total = acc[0];
  for (int i = 1; i < kChains; ++i) total = _mm512_add_epi32(total, acc[i]);
  // One lane is enough to keep every chain alive; _mm512_reduce_add_epi32 would add the
  // lanes as C ints, and these wrapped sums overflow that (UBSan: signed overflow).
  alignas(64) int32_t lanes[16];
  _mm512_store_si512(lanes, total);
  *sink = lanes[0];
  return 2.0 * kChains * 64 * static_cast<double>(iterations);
}

}  // namespace cnnnative::quant::detail
