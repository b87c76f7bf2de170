// Inner kernels of the tiled FFT convolution, one table per ISA and window size T.
// fft_kernels_impl.h holds the code; fft_kernels.cc / __avx2.cc / __avx512.cc compile it.
// The transform-domain GEMM is the Winograd one (winograd_kernels.h), fed [re; im]
// stacked channels. Frequencies xi = u * (T/2+1) + v (u < T rows, v <= T/2 columns).
#pragma once
#include <cstdint>

#include "cnnnative/isa.h"

namespace cnnnative {
namespace fft {

constexpr int kLanes = 32;  // tiles per block, = winograd::kTileBlock

// Tile t in [tile_begin, tile_end): image t / (TH*TW), tile row (t % (TH*TW)) / TW,
// column t % TW; its window starts at (row*step_h - pad_top, col*step_w - pad_left),
// its outputs at (row*step_h, col*step_w), step = T - R + 1 (T - S + 1).
struct Tiles {
  int64_t tile_begin = 0, tile_end = 0, TH = 0, TW = 0;
  int64_t step_h = 0, step_w = 0, pad_top = 0, pad_left = 0;
};

// Input channel x (image n at x + n*image_stride, H x W) -> V: real parts at
// v[xi*xi_stride + lane], imaginary parts at v[xi*xi_stride + im_offset + lane].
struct InputArgs {
  Tiles tiles;
  const float* x = nullptr;
  int64_t image_stride = 0, H = 0, W = 0;
  float* v = nullptr;
  int64_t xi_stride = 0, im_offset = 0;
};

// M of one output channel (same layout as V) -> its output plane, plus bias.
struct OutputArgs {
  Tiles tiles;
  const float* m = nullptr;
  int64_t xi_stride = 0, im_offset = 0;
  float* y = nullptr;
  int64_t image_stride = 0, OH = 0, OW = 0;
  float bias = 0.f;
};

// Filters f[c][r*S+s][12] (12 output channels as lanes) -> conj-DFT packed for the two
// real GEMMs: part 0 (real output) = [Wr | Wi], part 1 (imaginary output) = [-Wi | Wr],
// u[xi*xi_stride + part*part_stride + col*12 + lane], col < 2C.
struct FilterArgs {
  const float* f = nullptr;
  int64_t C = 0;
  int R = 0, S = 0;
  float* u = nullptr;
  int64_t xi_stride = 0, part_stride = 0;
};

struct Kernels {
  void (*input_transform)(const InputArgs&);
  void (*output_transform)(const OutputArgs&);
  void (*filter_transform)(const FilterArgs&);
};

const Kernels& kernels_scalar(int T);
const Kernels& kernels_avx2(int T);
const Kernels& kernels_avx512(int T);

inline const Kernels& kernels_for(Isa isa, int T) {
  return isa == Isa::avx512 ? kernels_avx512(T) : isa == Isa::avx2 ? kernels_avx2(T) : kernels_scalar(T);
}

}  // namespace fft
}  // namespace cnnnative
