// AVX-512 band kernel of the F(2,4) small-channel convolution (direct_smallc_wino.h).
//
// Register tile: 2 output channels x 5 transformed points x 2 vectors of 16 output pairs
// = 20 accumulators. Per (channel, kernel row, phase): 5 x 2 loads of transformed input,
// 10 weight broadcasts, 20 FMAs. The output transform, bias, residual and activation run
// in registers; even and odd outputs are interleaved back into pixel order before the store.
#include <immintrin.h>

#include <algorithm>

#include "direct_smallc_wino.h"

namespace cnnnative {
namespace direct_smallc_wino {
namespace {

#ifndef WINO_NV
#define WINO_NV 1
#endif
constexpr int kVectors = WINO_NV;

inline __mmask16 lanes(int64_t n) {
  return n >= 16 ? __mmask16(0xFFFF) : n <= 0 ? __mmask16(0) : __mmask16((1u << n) - 1u);
}

template <int NV>
inline void tile(const BandArgs& a, int64_t j0, int64_t kb, int64_t valid_pairs) {
  constexpr int KT = int(kBlockK);
  const int64_t k0 = kb * KT;
  const int krows = int(std::min<int64_t>(KT, a.K - k0));
  __m512 acc[KT][kPoints][NV];
#pragma GCC unroll 4
  for (int k = 0; k < KT; ++k)
#pragma GCC unroll 5
    for (int i = 0; i < kPoints; ++i)
#pragma GCC unroll 2
      for (int v = 0; v < NV; ++v) acc[k][i][v] = _mm512_setzero_ps();
  const float* xb = a.planes + j0;
  const float* w = a.packed_w + kb * a.taps * kPoints * KT;
  const int64_t ps = a.point_stride;
  for (int64_t t = 0; t < a.taps; ++t, w += kPoints * KT) {
    const float* xp = xb + a.tap_offset[t];
#pragma GCC unroll 5
    for (int i = 0; i < kPoints; ++i) {
      __m512 d[NV];
#pragma GCC unroll 2
      for (int v = 0; v < NV; ++v) {
        d[v] = _mm512_loadu_ps(xp + i * ps + 16 * v);
        asm("" : "+v"(d[v]));  // keep it in a register: folded into each FMA it would be loaded KT times
      }
#pragma GCC unroll 4
      for (int k = 0; k < KT; ++k) {
        const __m512 wk = _mm512_set1_ps(w[i * KT + k]);
#pragma GCC unroll 2
        for (int v = 0; v < NV; ++v) acc[k][i][v] = _mm512_fmadd_ps(wk, d[v], acc[k][i][v]);
      }
    }
  }
  // Lane l of the even/odd vectors is pair l: outputs 2l and 2l + 1.
  const __m512i lo_idx = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const __m512i hi_idx = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
  const __m512 zero = _mm512_setzero_ps(), six = _mm512_set1_ps(6.f), two = _mm512_set1_ps(2.f);
#pragma GCC unroll 4
  for (int k = 0; k < KT; ++k) {
    if (k >= krows) break;
    const __m512 b = _mm512_set1_ps(a.bias ? a.bias[k0 + k] : 0.f);
    float* yk = a.y + (k0 + k) * a.ld + 2 * j0;
    const float* rk = a.residual ? a.residual + (k0 + k) * a.ld + 2 * j0 : nullptr;
#pragma GCC unroll 2
    for (int v = 0; v < NV; ++v) {
      const __m512 m0 = acc[k][0][v], m1 = acc[k][1][v], m2 = acc[k][2][v], m3 = acc[k][3][v], m4 = acc[k][4][v];
      const __m512 even = _mm512_add_ps(_mm512_add_ps(m0, m1), _mm512_add_ps(_mm512_add_ps(m2, m3), b));
      const __m512 odd = _mm512_add_ps(_mm512_fmadd_ps(two, m3, _mm512_sub_ps(m1, m2)), _mm512_add_ps(m4, b));
      __m512 out[2] = {_mm512_permutex2var_ps(even, lo_idx, odd), _mm512_permutex2var_ps(even, hi_idx, odd)};
      const int64_t outputs = 2 * (valid_pairs - 16 * v);
#pragma GCC unroll 2
      for (int h = 0; h < 2; ++h) {
        const __mmask16 m = lanes(outputs - 16 * h);
        const int64_t at = 32 * v + 16 * h;
        __m512 r = out[h];
        if (rk) r = _mm512_add_ps(r, _mm512_maskz_loadu_ps(m, rk + at));
        if (a.act != Activation::none) r = _mm512_max_ps(r, zero);
        if (a.act == Activation::relu6) r = _mm512_min_ps(r, six);
        _mm512_mask_storeu_ps(yk + at, m, r);
      }
    }
  }
}

}  // namespace

void transform_row_avx512(const float* const d[kPoints], float* const o[kPoints], int64_t n) {
  const __m512 two = _mm512_set1_ps(2.f), three = _mm512_set1_ps(3.f);
  for (int64_t t = 0; t < n; t += 16) {
    const __mmask16 m = lanes(n - t);
    const __m512 d0 = _mm512_maskz_loadu_ps(m, d[0] + t), d1 = _mm512_maskz_loadu_ps(m, d[1] + t);
    const __m512 d2 = _mm512_maskz_loadu_ps(m, d[2] + t), d3 = _mm512_maskz_loadu_ps(m, d[3] + t);
    const __m512 d4 = _mm512_maskz_loadu_ps(m, d[4] + t);
    const __m512 d3m1 = _mm512_sub_ps(d3, d1);
    _mm512_mask_storeu_ps(o[0] + t, m, _mm512_fmadd_ps(two, _mm512_sub_ps(d0, d2), _mm512_sub_ps(d3, d1)));
    _mm512_mask_storeu_ps(o[1] + t, m, _mm512_fmadd_ps(two, d1, _mm512_sub_ps(d2, d3)));
    _mm512_mask_storeu_ps(o[2] + t, m, _mm512_fmsub_ps(three, d2, _mm512_fmadd_ps(two, d1, d3)));
    _mm512_mask_storeu_ps(o[3] + t, m, d3m1);
    _mm512_mask_storeu_ps(o[4] + t, m, _mm512_fmadd_ps(two, _mm512_sub_ps(d1, d3), _mm512_sub_ps(d4, d2)));
  }
}

void band_avx512(const BandArgs& a) {
  constexpr int64_t kPairs = kVectors * 16;
  const int64_t kblocks = (a.K + kBlockK - 1) / kBlockK;
  int64_t j0 = 0;
  for (; j0 + kPairs <= a.pairs; j0 += kPairs)
    for (int64_t kb = 0; kb < kblocks; ++kb) tile<kVectors>(a, j0, kb, kPairs);
  const int64_t rest = a.pairs - j0;
  for (int64_t kb = 0; kb < kblocks && rest > 0; ++kb) {
    if (rest > 16)
      tile<2>(a, j0, kb, rest);
    else
      tile<1>(a, j0, kb, rest);
  }
}

}  // namespace direct_smallc_wino
}  // namespace cnnnative
