// AVX2 band kernel of the F(2,3) / F(2,4) small-channel convolution
// (direct_smallc_wino.h): the same transformed planes and packed filters as the AVX-512
// kernel, in 8-lane ymm registers.
//
// Register budget: 16 ymm. Each FMA needs its transformed input D_i (a vector of 8 output
// pairs) and its filter value G_i(k) (a broadcast, which AVX2 cannot fold into the FMA:
// one load each), so a tile of KT channels x NI points x V pair vectors costs
// NI*V + KT*NI loads for KT*NI*V FMAs, and reads the chunk's planes (from L2) once per
// KT channels. The AVX-512 tile (all P points of a block, one vector) would not fit 16
// registers; instead a tile takes ONE point per pass (P passes over the taps, the
// finished points' sums waiting on the stack: a few stores per tile against hundreds of
// FMAs) for a whole packed block of channels and V = 2 pair vectors:
//   F(2,3): 6 channels x 2 vectors = 12 accumulators, 2 inputs, 1 broadcast;
//           8 loads per 12 FMAs;
//   F(2,4): 4 channels x 2 vectors = 8 accumulators, 6 loads per 8 FMAs (V = 3, 12
//           accumulators and 16 registers in all, measured far slower).
// Measured against the alternatives (1 thread, CPU time, Zen 5 with CNNNATIVE_ISA=avx2,
// ms for stem 7x7/2 / AlexNet conv1 11x11/4, first versions of the loops): 1 point x
// 6|4 channels x 2 vectors 1.96 / 2.24; 2|3 points x 6|4 channels x 1 vector 2.23 / 2.67;
// 2|3 points x 3|2 channels x 2 vectors 2.46 / 3.04 (direct_smallc: 2.6 / 2.65). Then
// one loop per pass over all taps where the pass lacks the last point (short loops cost
// their exit branch: stem 1.96 -> 1.84) and plain stores for 8 outputs inside one row of
// an odd width (AlexNet 2.19 -> 2.12). No gain from: the pairs loop outside the channel
// blocks, unrolling the tap loop, scalar stores instead of masked ones; prefetching the
// next pass's planes made AlexNet 20% slower.
// The output transform, bias, residual and activation run in registers; even and odd
// outputs are interleaved back into pixel order, and for an odd output width each row's
// pad column is masked out of the stores. The sums are the AVX-512 kernel's, in the same
// order, so both give bit-identical outputs (the tests check it).
#include <immintrin.h>

#include <algorithm>
#include <type_traits>

#include "direct_smallc_wino.h"

namespace cnnnative {
namespace direct_smallc_wino {
namespace {

// Register tile per family: channels per tile (a divisor of block_k) and points per pass.
template <int P>
struct TileShape;
template <>
struct TileShape<4> {
  static constexpr int kChannels = 6, kPointsPerPass = 1, kPairVectors = 2;
};
template <>
struct TileShape<5> {
  static constexpr int kChannels = 4, kPointsPerPass = 1, kPairVectors = 2;
};
static_assert(block_k(4) % TileShape<4>::kChannels == 0 && block_k(5) % TileShape<5>::kChannels == 0,
              "a tile takes whole parts of a packed channel block");

// All-ones in lanes [0, n) of 8.
inline __m256i lanes(int64_t n) {
  const int64_t c = std::max<int64_t>(0, std::min<int64_t>(n, 8));
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(int(c)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

// Lane l set where bit l of `bits` is.
inline __m256i lanes_from_bits(unsigned bits) {
  const __m256i bit = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
  return _mm256_cmpeq_epi32(_mm256_and_si256(_mm256_set1_epi32(int(bits)), bit), bit);
}

// One pass: m[k][i][v] = sum over taps of G_(I0+i)(k) * D_(I0+i) for v's 8 pairs, for the
// points [I0, I0 + NI); reduced taps (from full_taps on) have no point P - 1.
template <int P, int KT, int V, int I0, int NI>
__attribute__((always_inline)) inline void pass(__m256 (&m)[KT][P][V], const BandArgs& a, const float* xb,
                                                const float* w) {
  constexpr int B = block_k(P);
  constexpr int NR = std::min(I0 + NI, P - 1) - I0;  // points of a reduced tap in this pass
  __m256 acc[KT][NI][V];
#pragma GCC unroll 6
  for (int k = 0; k < KT; ++k)
#pragma GCC unroll 4
    for (int i = 0; i < NI; ++i)
#pragma GCC unroll 2
      for (int v = 0; v < V; ++v) acc[k][i][v] = _mm256_setzero_ps();
  const int64_t ps = a.point_stride;
  auto taps = [&](auto used, int64_t t0, int64_t t1) {
    constexpr int U = decltype(used)::value;
    const float* wt = w + (t0 * P + I0) * B;
    for (int64_t t = t0; t < t1; ++t, wt += P * B) {
      const float* xp = xb + a.tap_offset[t] + I0 * ps;
#pragma GCC unroll 4
      for (int i = 0; i < U; ++i) {
        __m256 d[V];
#pragma GCC unroll 2
        for (int v = 0; v < V; ++v) d[v] = _mm256_loadu_ps(xp + i * ps + 8 * v);
#pragma GCC unroll 6
        for (int k = 0; k < KT; ++k) {
          const __m256 g = _mm256_broadcast_ss(wt + i * B + k);
#pragma GCC unroll 2
          for (int v = 0; v < V; ++v) acc[k][i][v] = _mm256_fmadd_ps(g, d[v], acc[k][i][v]);
        }
      }
    }
  };
  if constexpr (NR == NI) {  // the pass lacks point P - 1: every tap alike, one loop
    taps(std::integral_constant<int, NI>(), 0, a.taps);
  } else {
    taps(std::integral_constant<int, NI>(), 0, a.full_taps);
    if constexpr (NR > 0) taps(std::integral_constant<int, NR>(), a.full_taps, a.taps);
  }
#pragma GCC unroll 6
  for (int k = 0; k < KT; ++k)
#pragma GCC unroll 4
    for (int i = 0; i < NI; ++i)
#pragma GCC unroll 2
      for (int v = 0; v < V; ++v) m[k][I0 + i][v] = acc[k][i][v];
}

// The passes over points [I0, I0 + NI), [I0 + NI, I0 + 2 NI), ... up to P.
template <int P, int KT, int V, int NI, int I0>
__attribute__((always_inline)) inline void passes(__m256 (&m)[KT][P][V], const BandArgs& a, const float* xb,
                                                  const float* w) {
  pass<P, KT, V, I0, std::min(NI, P - I0)>(m, a, xb, w);
  if constexpr (I0 + NI < P) passes<P, KT, V, NI, I0 + NI>(m, a, xb, w);
}

// Where 8 consecutive outputs of the padded row layout (pitch 2 PW) go in y (pitch OW):
// one masked store per output row they touch, the pad column of an odd width masked out.
struct Segments {
  int n = 0;
  bool whole = false;  // one segment of all 8 lanes: a plain store (masked stores are slow on AMD)
  __m256i mask[8];
  int64_t offset[8];  // y index of lane 0 for this segment's lanes
};

inline void segments(const BandArgs& a, int64_t padded_start, int64_t count, Segments& s) {
  s.n = 0;
  s.whole = false;
  if (count <= 0) return;
  const int64_t W2 = 2 * a.PW;
  if (W2 == a.OW) {  // even width: the layouts agree
    s.n = 1;
    s.whole = count >= 8;
    s.mask[0] = lanes(count);
    s.offset[0] = padded_start;
    return;
  }
  const int64_t end = std::min<int64_t>(count, 8);
  int64_t lane = 0, pos = padded_start;
  while (lane < end) {
    const int64_t row = pos / W2, col = pos - row * W2;
    const int64_t len = std::min(W2 - col, end - lane);
    unsigned bits = ((1u << len) - 1u) << lane;
    if (col + len == W2) bits &= ~(1u << (lane + len - 1));  // the pad column
    s.mask[s.n] = lanes_from_bits(bits);
    s.offset[s.n] = row * a.OW + col - lane;
    ++s.n;
    lane += len;
    pos += len;
    if (bits == 0xFFu) s.whole = true;  // 8 outputs inside one row, pad column not among them
  }
}

template <int P>
inline void tile(const BandArgs& a, int64_t j0, int64_t k0, const float* w, int64_t valid_pairs) {
  constexpr int KT = TileShape<P>::kChannels, NI = TileShape<P>::kPointsPerPass, V = TileShape<P>::kPairVectors;
  const int krows = int(std::min<int64_t>(KT, a.K - k0));
  const float* xb = a.planes + j0;
  __m256 m[KT][P][V];
  passes<P, KT, V, NI, 0>(m, a, xb, w);
  const __m256 zero = _mm256_setzero_ps(), six = _mm256_set1_ps(6.f), two = _mm256_set1_ps(2.f);
  // Output vector h (8 outputs) holds pairs 4h .. 4h+3 of the tile.
  Segments seg[2 * V];
  for (int h = 0; h < 2 * V; ++h) segments(a, 2 * (a.first_pair + j0) + 8 * h, 2 * valid_pairs - 8 * h, seg[h]);
#pragma GCC unroll 6
  for (int k = 0; k < KT; ++k) {
    if (k >= krows) break;
    const __m256 b = _mm256_set1_ps(a.bias ? a.bias[k0 + k] : 0.f);
    float* yk = a.y + (k0 + k) * a.ld;
    const float* rk = a.residual ? a.residual + (k0 + k) * a.ld : nullptr;
#pragma GCC unroll 2
    for (int v = 0; v < V; ++v) {
      __m256 even, odd;
      if constexpr (P == 4) {
        even = _mm256_add_ps(_mm256_add_ps(m[k][0][v], m[k][1][v]), _mm256_add_ps(m[k][2][v], b));
        odd = _mm256_sub_ps(_mm256_sub_ps(m[k][1][v], m[k][2][v]), _mm256_sub_ps(m[k][3][v], b));
      } else {
        even = _mm256_add_ps(_mm256_add_ps(m[k][0][v], m[k][1][v]), _mm256_add_ps(_mm256_add_ps(m[k][2][v], m[k][3][v]), b));
        odd = _mm256_add_ps(_mm256_fmadd_ps(two, m[k][3][v], _mm256_sub_ps(m[k][1][v], m[k][2][v])),
                            _mm256_add_ps(m[k][4][v], b));
      }
      // Lane l of even/odd is pair l: outputs 2l and 2l + 1.
      const __m256 lo = _mm256_unpacklo_ps(even, odd), hi = _mm256_unpackhi_ps(even, odd);  // pairs 0,1,4,5 / 2,3,6,7
      const __m256 out[2] = {_mm256_permute2f128_ps(lo, hi, 0x20), _mm256_permute2f128_ps(lo, hi, 0x31)};
#pragma GCC unroll 2
      for (int h = 0; h < 2; ++h) {
        const Segments& s = seg[2 * v + h];
        if (s.n == 0) continue;
        __m256 r = out[h];
        if (rk) {
          if (s.whole) {
            r = _mm256_add_ps(r, _mm256_loadu_ps(rk + s.offset[0]));
          } else {
            __m256 res = zero;
            for (int i = 0; i < s.n; ++i)
              res = _mm256_or_ps(res, _mm256_maskload_ps(rk + s.offset[i], s.mask[i]));  // disjoint lanes
            r = _mm256_add_ps(r, res);
          }
        }
        if (a.act != Activation::none) r = _mm256_max_ps(zero, r);  // data second: keeps NaN
        if (a.act == Activation::relu6) r = _mm256_min_ps(six, r);
        if (s.whole)
          _mm256_storeu_ps(yk + s.offset[0], r);
        else
          for (int i = 0; i < s.n; ++i) _mm256_maskstore_ps(yk + s.offset[i], s.mask[i], r);
      }
    }
  }
}

template <int P>
void band(const BandArgs& a) {
  constexpr int B = block_k(P), KT = TileShape<P>::kChannels, pairs_per_tile = 8 * TileShape<P>::kPairVectors;
  const int64_t kblocks = (a.K + B - 1) / B;
  // Channel blocks outer, as the AVX-512 kernel: a block's filters stay in L1 while the
  // chunk's planes stream from L2 (the other order measured the same).
  for (int64_t kb = 0; kb < kblocks; ++kb)
    for (int sub = 0; sub < B && kb * B + sub < a.K; sub += KT)
      for (int64_t j0 = 0; j0 < a.pairs; j0 += pairs_per_tile)
        tile<P>(a, j0, kb * B + sub, a.packed_w + kb * a.taps * P * B + sub,
                std::min<int64_t>(pairs_per_tile, a.pairs - j0));
}

}  // namespace

void transform_row_avx2(int points, int outputs, const float* const d[kMaxPoints], float* const o[kMaxPoints],
                        int64_t n) {
  // The same formulas, operation for operation, as transform_row_avx512 (masked loads and
  // stores for the last < 8 columns), so both kernels build identical planes.
  const __m256 two = _mm256_set1_ps(2.f), three = _mm256_set1_ps(3.f);
  for (int64_t t = 0; t < n; t += 8) {
    const bool full = n - t >= 8;  // masked moves are slow on some CPUs: only for the tail
    const __m256i m = lanes(n - t);
    auto load = [&](int e) { return full ? _mm256_loadu_ps(d[e] + t) : _mm256_maskload_ps(d[e] + t, m); };
    auto store = [&](int i, __m256 v) {
      if (full)
        _mm256_storeu_ps(o[i] + t, v);
      else
        _mm256_maskstore_ps(o[i] + t, m, v);
    };
    const __m256 d0 = load(0), d1 = load(1), d2 = load(2);
    if (points == 4) {
      store(0, _mm256_sub_ps(d0, d2));
      store(1, _mm256_add_ps(d1, d2));
      store(2, _mm256_sub_ps(d2, d1));
      if (outputs > 3) store(3, _mm256_sub_ps(d1, load(3)));
      continue;
    }
    const __m256 d3 = load(3);
    const __m256 d3m1 = _mm256_sub_ps(d3, d1);
    store(0, _mm256_fmadd_ps(two, _mm256_sub_ps(d0, d2), d3m1));
    store(1, _mm256_fmadd_ps(two, d1, _mm256_sub_ps(d2, d3)));
    store(2, _mm256_fmsub_ps(three, d2, _mm256_fmadd_ps(two, d1, d3)));
    store(3, d3m1);
    if (outputs > 4) store(4, _mm256_fmadd_ps(two, _mm256_sub_ps(d1, d3), _mm256_sub_ps(load(4), d2)));
  }
}

void band_avx2(const BandArgs& a) {
  if (a.points == 4)
    band<4>(a);
  else
    band<5>(a);
}

}  // namespace direct_smallc_wino
}  // namespace cnnnative
