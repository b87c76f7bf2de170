// The weight-gradient row kernel of the direct 3-D convolution (conv3d_direct.h,
// WeightRow), written once for every vector width. Include only from the per-ISA sources
// (conv3d_direct__avx2.cc, __avx512.cc) and instantiate it with a vector policy of that ISA,
// declared in the file's anonymous namespace: so every instantiation is local to the file
// and compiled with its ISA flags (never merged with another ISA's by the linker).
//   struct V {
//     using T = ...;                       // the vector type
//     static constexpr int kLanes;         // floats per vector
//     static constexpr int kMaxVectors;    // vectors of output channels per tile
//     static T load(const float* aligned); static void store(float* aligned, T v);
//     static T broadcast(const float* p);  static T fmadd(T a, T b, T c);  // a * b + c
//   };
// Tiles are up to 2 height taps x 3 width taps x kMaxVectors vectors of output channels,
// summed over the positions of one output row: kMaxVectors dy vectors and six broadcasts
// per 6 * kMaxVectors FMAs (one height tap per tile ran 13% slower on AVX-512).
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <utility>

#include "conv/conv3d_direct.h"

namespace cnnnative {
namespace conv3d {
namespace weight_row_detail {

// acc[q][s][v] += sum over ow of x[q * xr + ow * SW + s * xs] * dy[ow][lanes * v ..] for NQ
// height taps, NS width taps and NV vectors of output channels (SW 0: the run-time stride).
template <class V, int NQ, int NS, int NV, int SW>
void weight_tile(const WeightRow& r, const float* x0, float* a, int64_t s0, int64_t k0) {
  typename V::T acc[NQ][NS][NV];
  a += s0 * r.ldk + k0;
#pragma GCC unroll 4
  for (int q = 0; q < NQ; ++q)
#pragma GCC unroll 4
    for (int s = 0; s < NS; ++s)
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[q][s][v] = V::load(a + q * r.accr + s * r.ldk + V::kLanes * v);
  const int64_t sw = SW ? SW : r.sw;
  const float* x = x0 + s0 * r.xs;
  const float* dy = r.dy + k0;
  for (int64_t ow = 0; ow < r.OW; ++ow, x += sw, dy += r.ldk) {
    typename V::T d[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) d[v] = V::load(dy + V::kLanes * v);
#pragma GCC unroll 4
    for (int q = 0; q < NQ; ++q)
#pragma GCC unroll 4
      for (int s = 0; s < NS; ++s) {
        const typename V::T xv = V::broadcast(x + q * r.xr + s * r.xs);
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) acc[q][s][v] = V::fmadd(xv, d[v], acc[q][s][v]);
      }
  }
#pragma GCC unroll 4
  for (int q = 0; q < NQ; ++q)
#pragma GCC unroll 4
    for (int s = 0; s < NS; ++s)
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) V::store(a + q * r.accr + s * r.ldk + V::kLanes * v, acc[q][s][v]);
}

using TileFn = void (*)(const WeightRow&, const float*, float*, int64_t, int64_t);

template <class V, int SW, int NQ, int NS, int... I>
constexpr std::array<TileFn, sizeof...(I)> by_vectors(std::integer_sequence<int, I...>) {
  return {&weight_tile<V, NQ, NS, I + 1, SW>...};
}

// The tile for nq height taps (1-2), ns width taps (1-3) and nv vectors (1-kMaxVectors).
template <class V, int SW>
TileFn tile_fn(int nq, int ns, int nv) {
  using Seq = std::make_integer_sequence<int, V::kMaxVectors>;
  using Row = std::array<TileFn, V::kMaxVectors>;
  static constexpr std::array<std::array<Row, 3>, 2> table = {{
      {{by_vectors<V, SW, 1, 1>(Seq{}), by_vectors<V, SW, 1, 2>(Seq{}), by_vectors<V, SW, 1, 3>(Seq{})}},
      {{by_vectors<V, SW, 2, 1>(Seq{}), by_vectors<V, SW, 2, 2>(Seq{}), by_vectors<V, SW, 2, 3>(Seq{})}},
  }};
  return table[size_t(nq - 1)][size_t(ns - 1)][size_t(nv - 1)];
}

template <class V, int SW>
void weight_row_kernel(const WeightRow& r) {
  constexpr int64_t kStep = int64_t(V::kLanes) * V::kMaxVectors;  // output channels per tile
  for (int64_t q0 = 0; q0 < r.nr; q0 += 2) {
    const int nq = static_cast<int>(std::min<int64_t>(2, r.nr - q0));
    const float* x = r.x + q0 * r.xr;
    float* a = r.acc + q0 * r.accr;
    // ldk is a multiple of 16 (conv3d_direct.h), so every step is whole vectors.
    for (int64_t k0 = 0; k0 < r.ldk; k0 += kStep) {
      const int nv = static_cast<int>(std::min<int64_t>(V::kMaxVectors, (r.ldk - k0) / V::kLanes));
      for (int64_t s0 = 0; s0 < r.S; s0 += 3) {
        const int ns = static_cast<int>(std::min<int64_t>(3, r.S - s0));
        tile_fn<V, SW>(nq, ns, nv)(r, x, a, s0, k0);
      }
    }
  }
}

}  // namespace weight_row_detail

// The WeightRowKernel of vector policy V: the strides 1 and 2 compiled in, others at run time.
template <class V>
void weight_row_any_stride(const WeightRow& r) {
  if (r.sw == 1)
    weight_row_detail::weight_row_kernel<V, 1>(r);
  else if (r.sw == 2)
    weight_row_detail::weight_row_kernel<V, 2>(r);
  else
    weight_row_detail::weight_row_kernel<V, 0>(r);
}

}  // namespace conv3d
}  // namespace cnnnative
