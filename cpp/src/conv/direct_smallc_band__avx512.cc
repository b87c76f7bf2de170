// AVX-512 band kernel of the small-channel direct convolution (see direct_smallc.h).
//
// Register tile: 8 output channels (one packed weight block) x 3 vectors of 16 output
// pixels = 24 zmm accumulators. Per kernel tap: 3 contiguous loads from the tap planes,
// 8 weight broadcasts, 24 FMAs -- FMA-bound on a core with one 512-bit FMA per cycle.
// Bias initialises the accumulators; residual and activation are applied in registers
// before the (masked, for the band's last pixels and channels past K) stores.
#include <immintrin.h>

#include <algorithm>

#include "direct_smallc_kernels.h"

namespace cnnnative {
namespace direct_smallc {
namespace {

constexpr int kKT = 8;  // output channels per tile (= the packed block)

inline __mmask16 lanes(int64_t n) {
  return n >= 16 ? __mmask16(0xFFFF) : n <= 0 ? __mmask16(0) : __mmask16((1u << n) - 1u);
}

template <int NV>
inline void tile(const BandArgs& a, int64_t j0, int64_t kb, int64_t valid) {
  const int64_t k0 = kb * kKT;
  const int krows = int(std::min<int64_t>(kKT, a.K - k0));
  __m512 acc[kKT][NV];
#pragma GCC unroll 8
  for (int k = 0; k < kKT; ++k) {
    const __m512 b = _mm512_set1_ps(a.bias && k < krows ? a.bias[k0 + k] : 0.f);
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[k][v] = b;
  }
  const float* xb = a.planes + j0;
  const float* w = a.packed_w + kb * a.taps * kKT;
  const int64_t* off = a.tap_offset;
  for (int64_t t = 0; t < a.taps; ++t, w += kKT) {
    const float* xp = xb + off[t];
    __m512 xv[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) xv[v] = _mm512_loadu_ps(xp + 16 * v);
#pragma GCC unroll 8
    for (int k = 0; k < kKT; ++k) {
      const __m512 wk = _mm512_set1_ps(w[k]);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[k][v] = _mm512_fmadd_ps(wk, xv[v], acc[k][v]);
    }
  }
  __mmask16 m[NV];
#pragma GCC unroll 4
  for (int v = 0; v < NV; ++v) m[v] = lanes(valid - 16 * v);
  const __m512 zero = _mm512_setzero_ps(), six = _mm512_set1_ps(6.f);
#pragma GCC unroll 8
  for (int k = 0; k < kKT; ++k) {
    if (k >= krows) break;
    float* yk = a.y + (k0 + k) * a.ld + j0;
    const float* rk = a.residual ? a.residual + (k0 + k) * a.ld + j0 : nullptr;
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      __m512 r = acc[k][v];
      if (rk) r = _mm512_add_ps(r, _mm512_maskz_loadu_ps(m[v], rk + 16 * v));
      if (a.act != Activation::none) r = _mm512_max_ps(zero, r);  // data second: keeps NaN
      if (a.act == Activation::relu6) r = _mm512_min_ps(six, r);
      _mm512_mask_storeu_ps(yk + 16 * v, m[v], r);
    }
  }
}

}  // namespace

void band_avx512(const BandArgs& a) {
  constexpr int64_t kPixels = 3 * 16;
  const int64_t kblocks = (a.K + kKT - 1) / kKT;
  int64_t j0 = 0;
  for (; j0 + kPixels <= a.pixels; j0 += kPixels)
    for (int64_t kb = 0; kb < kblocks; ++kb) tile<3>(a, j0, kb, kPixels);
  const int64_t rest = a.pixels - j0;
  for (int64_t kb = 0; kb < kblocks && rest > 0; ++kb) {
    if (rest > 32)
      tile<3>(a, j0, kb, rest);
    else if (rest > 16)
      tile<2>(a, j0, kb, rest);
    else
      tile<1>(a, j0, kb, rest);
  }
}

}  // namespace direct_smallc
}  // namespace cnnnative
