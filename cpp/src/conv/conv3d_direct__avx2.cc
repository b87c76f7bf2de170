// The AVX2 + FMA kernels of the direct 3-D convolution (conv3d_direct.h), for 16 ymm
// registers.
// Forward: weights packed in blocks of 16 output channels (two ymm); tiles of up to 6
// output positions x 16 channels: 12 accumulators, two weight vectors and a broadcast
// (15 registers), the shape of the AVX2 SGEMM's 6x16 micro-kernel.
// Weight gradient (conv3d_direct_weight_row.h with 2 ymm per tile): tiles of 2 height taps
// x 3 width taps x 16 output channels (12 accumulators) summed over the positions of one
// output row: two dy vectors and six broadcasts per 12 FMAs.
#include <immintrin.h>

#include <algorithm>
#include <utility>

#include "conv/conv3d_direct.h"
#include "conv/conv3d_direct_weight_row.h"

namespace cnnnative {
namespace conv3d {
namespace {

constexpr int64_t kBlock = 16;  // channels per packed weight block: two ymm
constexpr int kMaxPositions = 6;
// Input channels per pass over a row's tiles: as many as keep a block's weights for them
// within 3456 floats (13.5 KB: 8 channels of 3x3x3), so they stay in L1 across the row's
// tiles, where one pass over all channels streamed the block's 110 KB of C3D weights from
// L2 for every 6-position tile (C3D forward, 1 thread: all 64 channels at once 155 ms;
// chunks of 2, 4, 8, 12, 16: 118, 111-118, 107-112, 110-116, 113 ms). Chunks change no
// result: the sums are stored and reloaded, not reordered.
constexpr int64_t kChunkWeightFloats = 8 * 27 * kBlock;

// Where a valid (depth, height) tap's input row and weights start, from the row's first
// valid tap of input channel 0: one table per output row, so the tiles' loop over taps is
// one flat loop (4% faster than nested loops over kt and kr recomputing the offsets).
struct TapOffsets {
  int64_t x, w;
};
constexpr int kMaxTaps = 64;  // table entries; kernels with more depth x height taps take pieces

// out[j][0 .. 8*NV) (+)= sum over (c < channels, the taps of the table, ks) of
// w[...] * x[j * SW + ...] for j < P; first: out is not read (it is the first term).
// SW: the width stride (1 or 2; 0 means the run-time r.sw).
template <int NV, int P, int SW>
void tile(const DirectRow& r, const float* x, const float* w, int64_t channels, const TapOffsets* taps,
          int ntaps, bool first, float* out, int64_t ldo) {
  __m256 acc[P][NV];
#pragma GCC unroll 6
  for (int j = 0; j < P; ++j)
#pragma GCC unroll 2
    for (int v = 0; v < NV; ++v) acc[j][v] = first ? _mm256_setzero_ps() : _mm256_load_ps(out + j * ldo + 8 * v);
  const int64_t sw = SW ? SW : r.sw;
  for (int64_t c = 0; c < channels; ++c, x += r.xc, w += r.wc) {
    for (int e = 0; e < ntaps; ++e) {
      const float* xs = x + taps[e].x;
      const float* ws = w + taps[e].w;
      // Not unrolled: GCC then shares broadcasts between width taps and spills (39 vs 26 ms).
      for (int64_t s = 0; s < r.S; ++s, xs += r.xs, ws += kBlock) {
        __m256 wv[NV];
#pragma GCC unroll 2
        for (int v = 0; v < NV; ++v) wv[v] = _mm256_load_ps(ws + 8 * v);
#pragma GCC unroll 6
        for (int j = 0; j < P; ++j) {
          const __m256 xv = _mm256_broadcast_ss(xs + j * sw);
#pragma GCC unroll 2
          for (int v = 0; v < NV; ++v) acc[j][v] = _mm256_fmadd_ps(xv, wv[v], acc[j][v]);
        }
      }
    }
  }
#pragma GCC unroll 6
  for (int j = 0; j < P; ++j)
#pragma GCC unroll 2
    for (int v = 0; v < NV; ++v) _mm256_store_ps(out + j * ldo + 8 * v, acc[j][v]);
}

using TileFn = void (*)(const DirectRow&, const float*, const float*, int64_t, const TapOffsets*, int, bool,
                        float*, int64_t);

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
  // Near-equal tiles (56 positions: 10 tiles of 5 or 6, not 9 of 6 and one of 2).
  const int64_t tiles = (r.OW + kMaxPositions - 1) / kMaxPositions;
  const int64_t ntaps = r.nt * r.nr;
  const int64_t chunk = std::max<int64_t>(1, kChunkWeightFloats / std::max<int64_t>(1, ntaps * r.S * kBlock));
  TapOffsets table[kMaxTaps];
  // Loops outside the tiles: pieces of the tap table (one for kernels of <= 64 depth x
  // height taps), blocks of channels, chunks of input channels; the first piece and chunk
  // write each tile's sums, the later ones add to them.
  for (int64_t e0 = 0; e0 < std::max<int64_t>(ntaps, 1); e0 += kMaxTaps) {
    const int n = static_cast<int>(std::min<int64_t>(kMaxTaps, ntaps - e0));
    for (int e = 0; e < n; ++e) {
      const int64_t t = (e0 + e) / r.nr, q = (e0 + e) % r.nr;
      table[e] = {t * r.xt + q * r.xr, t * r.wt + q * r.wr};
    }
    for (int64_t b = 0; b < r.blocks; ++b) {
      const int nv = b + 1 == r.blocks ? r.last_vectors : 2;
      for (int64_t c0 = 0; c0 < r.Cg; c0 += chunk) {
        const int64_t nc = std::min(chunk, r.Cg - c0);
        const float* w = r.w + b * r.block_floats + c0 * r.wc;
        const float* x = r.x + c0 * r.xc;
        for (int64_t i = 0; i < tiles; ++i) {
          const int64_t ow = r.OW * i / tiles;
          const int p = static_cast<int>(r.OW * (i + 1) / tiles - ow);
          const TileFn fn = nv == 2 ? tile_fn<2, SW>(p) : tile_fn<1, SW>(p);
          fn(r, x + ow * r.sw, w, nc, table, n, e0 == 0 && c0 == 0, r.out + ow * ldo + b * kBlock, ldo);
        }
      }
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
struct Ymm {
  using T = __m256;
  static constexpr int kLanes = 8, kMaxVectors = 2;
  static T load(const float* p) { return _mm256_load_ps(p); }
  static void store(float* p, T v) { _mm256_store_ps(p, v); }
  static T broadcast(const float* p) { return _mm256_broadcast_ss(p); }
  static T fmadd(T a, T b, T c) { return _mm256_fmadd_ps(a, b, c); }
};


// In place: t[j] lane i <- t[i] lane j.
inline void transpose8x8(__m256 t[8]) {
  __m256 u[8], v[8];
  for (int i = 0; i < 4; ++i) {
    u[2 * i] = _mm256_unpacklo_ps(t[2 * i], t[2 * i + 1]);
    u[2 * i + 1] = _mm256_unpackhi_ps(t[2 * i], t[2 * i + 1]);
  }
  for (int i = 0; i < 2; ++i) {
    v[4 * i + 0] = _mm256_shuffle_ps(u[4 * i + 0], u[4 * i + 2], _MM_SHUFFLE(1, 0, 1, 0));
    v[4 * i + 1] = _mm256_shuffle_ps(u[4 * i + 0], u[4 * i + 2], _MM_SHUFFLE(3, 2, 3, 2));
    v[4 * i + 2] = _mm256_shuffle_ps(u[4 * i + 1], u[4 * i + 3], _MM_SHUFFLE(1, 0, 1, 0));
    v[4 * i + 3] = _mm256_shuffle_ps(u[4 * i + 1], u[4 * i + 3], _MM_SHUFFLE(3, 2, 3, 2));
  }
  for (int i = 0; i < 4; ++i) {
    t[i] = _mm256_permute2f128_ps(v[i], v[i + 4], 0x20);
    t[i + 4] = _mm256_permute2f128_ps(v[i], v[i + 4], 0x31);
  }
}

// 8 x 8 blocks through registers; the ragged edges element by element.
void transpose_add(const float* src, int64_t lds, int64_t rows, int64_t cols, const float* add,
                   float* dst, int64_t ldd) {
  const int64_t rows8 = rows / 8 * 8, cols8 = cols / 8 * 8;
  for (int64_t i0 = 0; i0 < rows8; i0 += 8) {
    for (int64_t j0 = 0; j0 < cols8; j0 += 8) {
      __m256 t[8];
#pragma GCC unroll 8
      for (int i = 0; i < 8; ++i) t[i] = _mm256_loadu_ps(src + (i0 + i) * lds + j0);
      transpose8x8(t);
#pragma GCC unroll 8
      for (int j = 0; j < 8; ++j) {
        __m256 v = t[j];
        if (add) v = _mm256_add_ps(v, _mm256_set1_ps(add[j0 + j]));
        _mm256_storeu_ps(dst + (j0 + j) * ldd + i0, v);
      }
    }
  }
  // Columns past cols8 for every row, then rows past rows8 for the other columns.
  for (int64_t j = cols8; j < cols; ++j)
    for (int64_t i = 0; i < rows; ++i) dst[j * ldd + i] = add ? src[i * lds + j] + add[j] : src[i * lds + j];
  for (int64_t j = 0; j < cols8; ++j)
    for (int64_t i = rows8; i < rows; ++i) dst[j * ldd + i] = add ? src[i * lds + j] + add[j] : src[i * lds + j];
}

}  // namespace

const DirectKernels& direct_kernels_avx2() {
  static const DirectKernels kernels{&row_any_stride, &weight_row_any_stride<Ymm>, &transpose_add, kBlock};
  return kernels;
}

}  // namespace conv3d
}  // namespace cnnnative
