// The AVX-512 kernels of the direct 3-D convolution (conv3d_direct.h).
// Forward: tiles of up to 14 output positions x 32 output channels, 28 zmm accumulators,
// two weight vectors and a broadcast per step.
// Weight gradient (conv3d_direct_weight_row.h with 4 zmm per tile): tiles of 2 height taps x
// 3 width taps x 64 output channels (24 accumulators) summed over the positions of one
// output row: four dy vectors and six broadcasts per 24 FMAs.
#include <immintrin.h>

#include <algorithm>
#include <utility>

#include "conv/conv3d_direct.h"
#include "conv/conv3d_direct_weight_row.h"
#include "gemm/transpose16x16__avx512.h"

namespace cnnnative {
namespace conv3d {
namespace {

constexpr int64_t kBlock = 32;  // channels per packed weight block: two zmm
constexpr int kMaxPositions = 14;

// out[j][0 .. 16*NV) = sum over (c, kt, kr, ks) of w[...] * x[j * SW + ...] for j < P.
// SW: the width stride (1 or 2; 0 means the run-time r.sw).
template <int NV, int P, int SW>
void tile(const DirectRow& r, const float* x, const float* w, float* out, int64_t ldo) {
  __m512 acc[P][NV];
#pragma GCC unroll 14
  for (int j = 0; j < P; ++j)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[j][v] = _mm512_setzero_ps();
  const int64_t sw = SW ? SW : r.sw;
  for (int64_t c = 0; c < r.Cg; ++c) {
    for (int64_t t = 0; t < r.nt; ++t) {
      const float* xt = x + c * r.xc + t * r.xt;
      const float* wt = w + c * r.wc + t * r.wt;
      for (int64_t q = 0; q < r.nr; ++q) {
        const float* xs = xt + q * r.xr;
        const float* ws = wt + q * r.wr;
        // The next tile of this row reads the next cache line of the input row.
        _mm_prefetch(reinterpret_cast<const char*>(xs + P * sw + 16), _MM_HINT_T0);
        for (int64_t s = 0; s < r.S; ++s, xs += r.xs, ws += kBlock) {
          __m512 wv[NV];
#pragma GCC unroll 4
          for (int v = 0; v < NV; ++v) wv[v] = _mm512_load_ps(ws + 16 * v);
#pragma GCC unroll 14
          for (int j = 0; j < P; ++j) {
            const __m512 xv = _mm512_set1_ps(xs[j * sw]);
#pragma GCC unroll 4
            for (int v = 0; v < NV; ++v) acc[j][v] = _mm512_fmadd_ps(xv, wv[v], acc[j][v]);
          }
        }
      }
    }
  }
#pragma GCC unroll 14
  for (int j = 0; j < P; ++j)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) _mm512_store_ps(out + j * ldo + 16 * v, acc[j][v]);
}

using TileFn = void (*)(const DirectRow&, const float*, const float*, float*, int64_t);

template <int NV, int SW, int... P>
constexpr TileFn tile_for(int p, std::integer_sequence<int, P...>) {
  TileFn fns[] = {&tile<NV, P + 1, SW>...};
  return fns[p - 1];
}

template <int NV, int SW>
TileFn tile_fn(int positions) {
  return tile_for<NV, SW>(positions, std::make_integer_sequence<int, kMaxPositions>{});
}

template <int SW>
void row_kernel(const DirectRow& r) {
  const int64_t ldo = r.blocks * kBlock;
  for (int64_t b = 0; b < r.blocks; ++b) {
    const int nv = b + 1 == r.blocks ? r.last_vectors : 2;
    const float* w = r.w + b * r.block_floats;
    // Near-equal tiles (16 positions: 8 + 8, not 14 + 2).
    const int64_t tiles = (r.OW + kMaxPositions - 1) / kMaxPositions;
    for (int64_t i = 0; i < tiles; ++i) {
      const int64_t ow = r.OW * i / tiles;
      const int p = static_cast<int>(r.OW * (i + 1) / tiles - ow);
      const TileFn fn = nv == 2 ? tile_fn<2, SW>(p) : tile_fn<1, SW>(p);
      fn(r, r.x + ow * r.sw, w, r.out + ow * ldo + b * kBlock, ldo);
    }
  }
}

void row_any_stride(const DirectRow& r) {
  if (r.sw == 1)
    row_kernel<1>(r);
  else if (r.sw == 2)
    row_kernel<2>(r);
  else
    row_kernel<0>(r);
}

// The vector policy of the weight-gradient row kernel (conv3d_direct_weight_row.h).
struct Zmm {
  using T = __m512;
  static constexpr int kLanes = 16, kMaxVectors = 4;
  static T load(const float* p) { return _mm512_load_ps(p); }
  static void store(float* p, T v) { _mm512_store_ps(p, v); }
  static T broadcast(const float* p) { return _mm512_set1_ps(*p); }
  static T fmadd(T a, T b, T c) { return _mm512_fmadd_ps(a, b, c); }
};


inline __mmask16 first_lanes(int64_t n) {
  return n >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << n) - 1u);
}

// 16 x 16 blocks through registers, masked at the edges.
void transpose_add(const float* src, int64_t lds, int64_t rows, int64_t cols, const float* add,
                   float* dst, int64_t ldd) {
  for (int64_t i0 = 0; i0 < rows; i0 += 16) {
    const int64_t ni = std::min<int64_t>(16, rows - i0);
    const __mmask16 mi = first_lanes(ni);
    for (int64_t j0 = 0; j0 < cols; j0 += 16) {
      const int64_t nj = std::min<int64_t>(16, cols - j0);
      const __mmask16 mj = first_lanes(nj);
      __m512 t[16];
#pragma GCC unroll 16
      for (int i = 0; i < 16; ++i)
        t[i] = i < ni ? _mm512_maskz_loadu_ps(mj, src + (i0 + i) * lds + j0) : _mm512_setzero_ps();
      gemm_detail::transpose16x16(t);
      for (int j = 0; j < nj; ++j) {
        __m512 v = t[j];
        if (add) v = _mm512_add_ps(v, _mm512_set1_ps(add[j0 + j]));
        _mm512_mask_storeu_ps(dst + (j0 + j) * ldd + i0, mi, v);
      }
    }
  }
}

}  // namespace

const DirectKernels& direct_kernels_avx512() {
  static const DirectKernels kernels{&row_any_stride, &weight_row_any_stride<Zmm>, &transpose_add, kBlock};
  return kernels;
}

}  // namespace conv3d
}  // namespace cnnnative
