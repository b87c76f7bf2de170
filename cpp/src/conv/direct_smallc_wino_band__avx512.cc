// AVX-512 band kernel of the F(2,3) / F(2,4) small-channel convolution
// (direct_smallc_wino.h).
//
// Register tile: B output channels x P transformed points x 16 output pairs: 6 x 4 = 24
// accumulators for F(2,3), 4 x 5 = 20 for F(2,4). Per tap: P loads of transformed input
// and B*P FMAs with the
// filter value broadcast from memory; a reduced tap skips the last point. The output
// transform, bias, residual and activation run in registers; even and odd outputs are
// interleaved back into pixel order before the store, which for an odd output width
// leaves out each row's pad column (a store per output row the 16 lanes touch).
#include <immintrin.h>

#include <algorithm>

#include "direct_smallc_wino.h"

namespace cnnnative {
namespace direct_smallc_wino {
namespace {

inline __mmask16 lanes(int64_t n) {
  return n >= 16 ? __mmask16(0xFFFF) : n <= 0 ? __mmask16(0) : __mmask16((1u << n) - 1u);
}

// acc[k][i] += G_i(k, tap) * D_i(tap) for the NP first points of taps [t0, t1).
template <int P, int NP, int KT = block_k(P)>
__attribute__((always_inline)) inline void accumulate(__m512 (&acc)[KT][P], const BandArgs& a, const float* xb,
                                                      const float* w, int64_t t0, int64_t t1) {
  const int64_t ps = a.point_stride;
  w += t0 * P * KT;
  for (int64_t t = t0; t < t1; ++t, w += P * KT) {
    const float* xp = xb + a.tap_offset[t];
#pragma GCC unroll 5
    for (int i = 0; i < NP; ++i) {
      __m512 d = _mm512_loadu_ps(xp + i * ps);
      asm("" : "+v"(d));  // keep it in a register: folded into each FMA it would be loaded KT times
#pragma GCC unroll 6
      for (int k = 0; k < KT; ++k) acc[k][i] = _mm512_fmadd_ps(_mm512_set1_ps(w[i * KT + k]), d, acc[k][i]);
    }
  }
}

// Where 16 consecutive outputs of the padded row layout (pitch 2 PW) go in y (pitch OW):
// one masked store per output row they touch, the pad column of an odd width masked out.
struct Segments {
  int n = 0;
  __mmask16 mask[16];
  int64_t offset[16];  // y index of lane 0 for this segment's lanes
};

inline void segments(const BandArgs& a, int64_t padded_start, int64_t count, Segments& s) {
  s.n = 0;
  const int64_t W2 = 2 * a.PW;
  if (W2 == a.OW) {  // even width: the layouts agree
    s.n = 1;
    s.mask[0] = lanes(count);
    s.offset[0] = padded_start;
    return;
  }
  int64_t lane = 0, pos = padded_start;
  while (lane < std::min<int64_t>(count, 16)) {
    const int64_t row = pos / W2, col = pos - row * W2;
    const int64_t len = std::min(W2 - col, std::min<int64_t>(count, 16) - lane);
    unsigned bits = ((1u << len) - 1u) << lane;
    if (col + len == W2) bits &= ~(1u << (lane + len - 1));  // the pad column
    s.mask[s.n] = __mmask16(bits);
    s.offset[s.n] = row * a.OW + col - lane;
    ++s.n;
    lane += len;
    pos += len;
  }
}

template <int P>
inline void tile(const BandArgs& a, int64_t j0, int64_t kb, int64_t valid_pairs) {
  constexpr int KT = block_k(P);
  const int64_t k0 = kb * KT;
  const int krows = int(std::min<int64_t>(KT, a.K - k0));
  __m512 acc[KT][P];
#pragma GCC unroll 6
  for (int k = 0; k < KT; ++k)
#pragma GCC unroll 5
    for (int i = 0; i < P; ++i) acc[k][i] = _mm512_setzero_ps();
  const float* xb = a.planes + j0;
  const float* w = a.packed_w + kb * a.taps * P * KT;
  accumulate<P, P>(acc, a, xb, w, 0, a.full_taps);
  accumulate<P, P - 1>(acc, a, xb, w, a.full_taps, a.taps);
  // Lane l of the even/odd vectors is pair l: outputs 2l and 2l + 1.
  const __m512i lo_idx = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const __m512i hi_idx = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
  const __m512 zero = _mm512_setzero_ps(), six = _mm512_set1_ps(6.f), two = _mm512_set1_ps(2.f);
  Segments seg[2];
  for (int h = 0; h < 2; ++h) segments(a, 2 * (a.first_pair + j0) + 16 * h, 2 * valid_pairs - 16 * h, seg[h]);
#pragma GCC unroll 6
  for (int k = 0; k < KT; ++k) {
    if (k >= krows) break;
    const __m512 b = _mm512_set1_ps(a.bias ? a.bias[k0 + k] : 0.f);
    float* yk = a.y + (k0 + k) * a.ld;
    const float* rk = a.residual ? a.residual + (k0 + k) * a.ld : nullptr;
    __m512 even, odd;
    if (P == 4) {
      even = _mm512_add_ps(_mm512_add_ps(acc[k][0], acc[k][1]), _mm512_add_ps(acc[k][2], b));
      odd = _mm512_sub_ps(_mm512_sub_ps(acc[k][1], acc[k][2]), _mm512_sub_ps(acc[k][3 % P], b));
    } else {
      const __m512 m0 = acc[k][0], m1 = acc[k][1], m2 = acc[k][2], m3 = acc[k][3 % P], m4 = acc[k][4 % P];
      even = _mm512_add_ps(_mm512_add_ps(m0, m1), _mm512_add_ps(_mm512_add_ps(m2, m3), b));
      odd = _mm512_add_ps(_mm512_fmadd_ps(two, m3, _mm512_sub_ps(m1, m2)), _mm512_add_ps(m4, b));
    }
    const __m512 out[2] = {_mm512_permutex2var_ps(even, lo_idx, odd), _mm512_permutex2var_ps(even, hi_idx, odd)};
#pragma GCC unroll 2
    for (int h = 0; h < 2; ++h) {
      const Segments& s = seg[h];
      __m512 r = out[h];
      if (rk) {
        __m512 res = zero;
        for (int i = 0; i < s.n; ++i) res = _mm512_mask_loadu_ps(res, s.mask[i], rk + s.offset[i]);
        r = _mm512_add_ps(r, res);
      }
      if (a.act != Activation::none) r = _mm512_max_ps(zero, r);  // data second: keeps NaN
      if (a.act == Activation::relu6) r = _mm512_min_ps(six, r);
      for (int i = 0; i < s.n; ++i) _mm512_mask_storeu_ps(yk + s.offset[i], s.mask[i], r);
    }
  }
}

template <int P>
void band(const BandArgs& a) {
  constexpr int KT = block_k(P);
  const int64_t kblocks = (a.K + KT - 1) / KT;
  for (int64_t kb = 0; kb < kblocks; ++kb)
    for (int64_t j0 = 0; j0 < a.pairs; j0 += 16) tile<P>(a, j0, kb, std::min<int64_t>(16, a.pairs - j0));
}

}  // namespace

void transform_row_avx512(int points, int outputs, const float* const d[kMaxPoints], float* const o[kMaxPoints],
                          int64_t n) {
  const __m512 two = _mm512_set1_ps(2.f), three = _mm512_set1_ps(3.f);
  for (int64_t t = 0; t < n; t += 16) {
    const __mmask16 m = lanes(n - t);
    const __m512 d0 = _mm512_maskz_loadu_ps(m, d[0] + t), d1 = _mm512_maskz_loadu_ps(m, d[1] + t);
    const __m512 d2 = _mm512_maskz_loadu_ps(m, d[2] + t);
    if (points == 4) {
      _mm512_mask_storeu_ps(o[0] + t, m, _mm512_sub_ps(d0, d2));
      _mm512_mask_storeu_ps(o[1] + t, m, _mm512_add_ps(d1, d2));
      _mm512_mask_storeu_ps(o[2] + t, m, _mm512_sub_ps(d2, d1));
      if (outputs > 3) _mm512_mask_storeu_ps(o[3] + t, m, _mm512_sub_ps(d1, _mm512_maskz_loadu_ps(m, d[3] + t)));
      continue;
    }
    const __m512 d3 = _mm512_maskz_loadu_ps(m, d[3] + t);
    const __m512 d3m1 = _mm512_sub_ps(d3, d1);
    _mm512_mask_storeu_ps(o[0] + t, m, _mm512_fmadd_ps(two, _mm512_sub_ps(d0, d2), d3m1));
    _mm512_mask_storeu_ps(o[1] + t, m, _mm512_fmadd_ps(two, d1, _mm512_sub_ps(d2, d3)));
    _mm512_mask_storeu_ps(o[2] + t, m, _mm512_fmsub_ps(three, d2, _mm512_fmadd_ps(two, d1, d3)));
    _mm512_mask_storeu_ps(o[3] + t, m, d3m1);
    if (outputs > 4) {
      const __m512 d4 = _mm512_maskz_loadu_ps(m, d[4] + t);
      _mm512_mask_storeu_ps(o[4] + t, m, _mm512_fmadd_ps(two, _mm512_sub_ps(d1, d3), _mm512_sub_ps(d4, d2)));
    }
  }
}

void band_avx512(const BandArgs& a) {
  if (a.points == 4)
    band<4>(a);
  else
    band<5>(a);
}

}  // namespace direct_smallc_wino
}  // namespace cnnnative
