// Inner kernels of the tiled FFT convolution, one table per ISA and window size T.
// fft_kernels_impl.h holds the code; fft_kernels.cc / __avx2.cc / __avx512.cc compile it.
// The transform-domain GEMM (same contract as the Winograd one): each complex
// product sum_c conj(W) X is three real GEMMs (Gauss's trick, 3 real multiplies per
// complex one instead of 4):
//   k1 = (a + b) Xr,  k2 = a (Xi - Xr),  k3 = b (Xr + Xi),   conj(W) = a + ib,
//   re = k1 - k3,     im = k1 + k2,
// so V holds the planes [Xr | Xi - Xr | Xr + Xi], U the planes [a + b | a | b] and M the
// planes [k1 | k2 | k3], each plane_stride apart within a frequency.
//
// Frequencies: the real 2-D DFT of a T x T window needs columns v = 0 .. T/2 of the
// T x T spectrum; columns 0 and T/2 are conjugate-symmetric in u (X[T-u] = conj X[u]),
// so only u <= T/2 is kept there. freq_index numbers the T^2/2 + 2 kept points.
#pragma once
#include <cstdint>

#include "cnnnative/isa.h"

namespace cnnnative {
namespace fft {

constexpr int kLanes = 32;  // tiles per block, = winograd::kTileBlock

constexpr int num_freqs(int T) { return T * (T / 2 - 1) + 2 * (T / 2 + 1); }

// Index of frequency (u, v): inner columns 1 <= v < T/2 first (all u), then column 0 and
// column T/2 for u <= T/2.
constexpr int freq_index(int T, int u, int v) {
  return (v > 0 && v < T / 2) ? u * (T / 2 - 1) + (v - 1)
                              : T * (T / 2 - 1) + (v == 0 ? 0 : T / 2 + 1) + u;
}

// Tile t in [tile_begin, tile_end): image t / (TH*TW), tile row (t % (TH*TW)) / TW,
// column t % TW; its window starts at (row*step_h - pad_top, col*step_w - pad_left),
// its outputs at (row*step_h, col*step_w), step = T - R + 1 (T - S + 1).
struct Tiles {
  int64_t tile_begin = 0, tile_end = 0, TH = 0, TW = 0;
  int64_t step_h = 0, step_w = 0, pad_top = 0, pad_left = 0;
};

// Input channel x (image n at x + n*image_stride, H x W) -> V: plane p of frequency xi
// at v[xi*xi_stride + p*plane_stride + lane].
struct InputArgs {
  Tiles tiles;
  const float* x = nullptr;
  int64_t image_stride = 0, H = 0, W = 0;
  float* v = nullptr;
  int64_t xi_stride = 0, plane_stride = 0;
};

// M of one output channel (same layout as V) -> its output plane, plus bias.
struct OutputArgs {
  Tiles tiles;
  const float* m = nullptr;
  int64_t xi_stride = 0, plane_stride = 0;
  float* y = nullptr;
  int64_t image_stride = 0, OH = 0, OW = 0;
  float bias = 0.f;
};

// Filters f[c][r*S+s][12] (12 output channels as lanes) -> the three planes of conj(W)
// for Gauss's trick, u[xi*xi_stride + p*plane_stride + c*12 + lane], c < C.
struct FilterArgs {
  const float* f = nullptr;
  int64_t C = 0;
  int R = 0, S = 0;
  float* u = nullptr;
  int64_t xi_stride = 0, plane_stride = 0;
};

struct Kernels {
  void (*input_transform)(const InputArgs&);
  void (*output_transform)(const OutputArgs&);
  void (*filter_transform)(const FilterArgs&);
  // M[rows x 32] = U[rows x C] V[C x 32]: U packed [C][12] (rows <= 12, unused rows
  // zero), V as [C][32], M rows 32 apart (the contract of the Winograd GEMM).
  void (*gemm)(const float* u, const float* v, float* m, int64_t C, int rows);
};

const Kernels& kernels_scalar(int T);
const Kernels& kernels_avx2(int T);
const Kernels& kernels_avx512(int T);

inline const Kernels& kernels_for(Isa isa, int T) {
  return isa == Isa::avx512 ? kernels_avx512(T) : isa == Isa::avx2 ? kernels_avx2(T) : kernels_scalar(T);
}

}  // namespace fft
}  // namespace cnnnative
