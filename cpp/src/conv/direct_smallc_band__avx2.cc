// AVX2 band kernel of the small-channel direct convolution (see direct_smallc.h).
//
// 16 ymm registers: a tile of 4 output channels (half a packed weight block) x 3 vectors
// of 8 output pixels = 12 accumulators, 3 input vectors and 1 broadcast weight.
#include <immintrin.h>

#include <algorithm>

#include "direct_smallc.h"
#include "direct_smallc_kernels.h"

namespace cnnnative {
namespace direct_smallc {
namespace {

constexpr int kKT = 4;  // output channels per tile

inline __m256i lanes(int64_t n) {
  const int64_t c = std::max<int64_t>(0, std::min<int64_t>(n, 8));
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(int(c)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

template <int NV>
inline void tile(const BandArgs& a, int64_t j0, int64_t k0, int64_t valid) {
  const int krows = int(std::min<int64_t>(kKT, a.K - k0));
  __m256 acc[kKT][NV];
#pragma GCC unroll 4
  for (int k = 0; k < kKT; ++k) {
    const __m256 b = _mm256_set1_ps(a.bias && k < krows ? a.bias[k0 + k] : 0.f);
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[k][v] = b;
  }
  const float* xb = a.planes + j0;
  // Channels k0..k0+3 sit in packed block k0/8 at position k0%8.
  const float* w = a.packed_w + (k0 / kBlockK) * a.taps * kBlockK + k0 % kBlockK;
  const int64_t* off = a.tap_offset;
  for (int64_t t = 0; t < a.taps; ++t, w += kBlockK) {
    const float* xp = xb + off[t];
    __m256 xv[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) xv[v] = _mm256_loadu_ps(xp + 8 * v);
#pragma GCC unroll 4
    for (int k = 0; k < kKT; ++k) {
      const __m256 wk = _mm256_broadcast_ss(w + k);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[k][v] = _mm256_fmadd_ps(wk, xv[v], acc[k][v]);
    }
  }
  __m256i m[NV];
#pragma GCC unroll 4
  for (int v = 0; v < NV; ++v) m[v] = lanes(valid - 8 * v);
  const __m256 zero = _mm256_setzero_ps(), six = _mm256_set1_ps(6.f);
#pragma GCC unroll 4
  for (int k = 0; k < kKT; ++k) {
    if (k >= krows) break;
    float* yk = a.y + (k0 + k) * a.ld + j0;
    const float* rk = a.residual ? a.residual + (k0 + k) * a.ld + j0 : nullptr;
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      __m256 r = acc[k][v];
      if (rk) r = _mm256_add_ps(r, _mm256_maskload_ps(rk + 8 * v, m[v]));
      if (a.act != Activation::none) r = _mm256_max_ps(zero, r);  // data second: keeps NaN
      if (a.act == Activation::relu6) r = _mm256_min_ps(six, r);
      _mm256_maskstore_ps(yk + 8 * v, m[v], r);
    }
  }
}

}  // namespace

void band_avx2(const BandArgs& a) {
  constexpr int64_t kPixels = 3 * 8;
  int64_t j0 = 0;
  for (; j0 + kPixels <= a.pixels; j0 += kPixels)
    for (int64_t k0 = 0; k0 < a.K; k0 += kKT) tile<3>(a, j0, k0, kPixels);
  const int64_t rest = a.pixels - j0;
  for (int64_t k0 = 0; k0 < a.K && rest > 0; k0 += kKT) {
    if (rest > 16)
      tile<3>(a, j0, k0, rest);
    else if (rest > 8)
      tile<2>(a, j0, k0, rest);
    else
      tile<1>(a, j0, k0, rest);
  }
}

}  // namespace direct_smallc
}  // namespace cnnnative
