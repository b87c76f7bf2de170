// The three inner kernels of Winograd F(m x m, 3 x 3): input transform, transform-domain
// GEMM and output transform, as one table per instruction set.
//
// The kernels are written once (winograd_kernels_impl.h) over blocks of kTileBlock
// tiles, so every transform step is a loop over 32 lanes that the compiler vectorises;
// winograd_kernels.cc, __avx2.cc and __avx512.cc compile that code with their ISA's
// flags and hand out their table.
#pragma once
#include "act/elementwise.h"  // UnaryKernel, ActParams (the after-store activation)
#include <cstdint>

#include "cnnnative/isa.h"
#include "cnnnative/winograd.h"

namespace cnnnative {
namespace winograd {

constexpr int kTileBlock = 32;  // tiles per block: the lanes of the transforms, the GEMM's N
constexpr int kRowBlock = 12;   // output channels per packed filter block (the GEMM's rows)
constexpr int kChannelBlock = 16;  // input channels per packed filter panel (one vector)

// Where the tiles of a block sit in the image. Tile t (t in [tile_begin, tile_end)) is
// image t / (TH*TW), tile row (t % (TH*TW)) / TW, tile column t % TW; its input window
// starts at (row*m - pad_top, col*m - pad_left), its outputs at (row*m, col*m).
struct TileGeometry {
  int64_t tile_begin = 0, tile_end = 0;
  int64_t TH = 0, TW = 0;
  int64_t pad_top = 0, pad_left = 0;  // may be negative (the input gradient crops)
};

// Reads input channel `x` (plane 0 at x, image n at x + n*image_stride, H x W) and
// writes V[xi * xi_stride + lane] for the (m+2)^2 transform points xi.
struct InputTransformArgs {
  TileGeometry tiles;
  const float* x = nullptr;
  int64_t image_stride = 0, H = 0, W = 0;
  float* v = nullptr;
  int64_t xi_stride = 0;
};

// Reads M[xi * xi_stride + lane] of one output channel and writes its OH x OW planes
// (image n at y + n*image_stride), applying bias, residual and activation.
struct OutputTransformArgs {
  TileGeometry tiles;
  const float* m = nullptr;
  int64_t xi_stride = 0;
  float* y = nullptr;
  const float* residual = nullptr;  // same layout as y, or null
  int64_t image_stride = 0, OH = 0, OW = 0;
  float bias = 0.f;
  Activation activation = Activation::none;  // relu / relu6 (or none), applied as each row is stored
  // Any other activation: the active ISA's elementwise kernel, run on each row right after
  // it is stored (act/epilogue_activation.h), with its parameter (prelu's slope of this channel).
  UnaryKernel after_store = nullptr;
  ActParams after_store_param;
};

// M[rows x 32] = U[rows x C] * V[C x 32]: U of one row block (rows <= kRowBlock), V
// as [C][32], M rows kTileBlock apart. gemm (the tiled FFT's) reads U packed [C][12];
// wgemm (Winograd's) reads U packed [ceil(C/16)][12][16]. wgemm_half computes lanes
// 0..15 only (a block of <= 16 tiles) and leaves lanes 16..31 of M unwritten.
using GemmFn = void (*)(const float* u, const float* v, float* m, int64_t C, int rows);
// wgemm over the input channels of nseg ranges [seg[2s], seg[2s + 1]) only (starts
// multiples of 16): the others' filters are zero (winograd_gather.h).
using GemmSegFn = void (*)(const float* u, const float* v, float* m, const int64_t* seg, int nseg, int rows);
using InputTransformFn = void (*)(const InputTransformArgs&);
using OutputTransformFn = void (*)(const OutputTransformArgs&);
// U[xi * xi_stride + (c/16)*192 + kr*16 + c%16] = (G f G^T)[xi] for the filters
// f = w[kr * k_stride + c*9 .. +9] (kr < rows; rows past them and channels past C are
// zero-padded to whole panels).
using FilterTransformFn = void (*)(const float* w, int64_t k_stride, int rows, int64_t C, float* u,
                                   int64_t xi_stride);

struct Kernels {
  InputTransformFn input_transform;
  OutputTransformFn output_transform;
  GemmFn gemm;
  GemmFn wgemm;
  GemmFn wgemm_half;
  FilterTransformFn filter_transform;
  GemmSegFn wgemm_seg;
  GemmSegFn wgemm_half_seg;
};

// Table for tile size m (2, 4 or 6) on each ISA.
const Kernels& kernels_scalar(int m);
const Kernels& kernels_avx2(int m);
const Kernels& kernels_avx512(int m);

inline const Kernels& kernels_for(Isa isa, int m) {
  switch (isa) {
    case Isa::avx512: return kernels_avx512(m);
    case Isa::avx2: return kernels_avx2(m);
    default: return kernels_scalar(m);
  }
}

}  // namespace winograd
}  // namespace cnnnative
