// The vector kernels of the sub-pixel weight gradient (conv_transpose_subpixel_wgrad.cc),
// written once (conv_transpose_subpixel_wgrad_kernels_impl.h) and compiled per ISA like
// the Winograd kernels: every loop runs over the 32 lanes of a block (tiles or channels).
#pragma once
#include <cstdint>

#include "cnnnative/isa.h"

namespace cnnnative {
namespace subpixel {

constexpr int kWgLanes = 32;  // lanes of a block: tiles in the transforms, channels in the reduction

// One block of 32 tiles of one phase plane of grad_output: lane l reads the 4x4 outputs
// (row0[l] + a*row_step, col0[l] + b*col_step) of plane + offset[l], zero where
// a >= rows[l] or b >= cols[l] (past the image) or l >= lanes.
struct GradTileArgs {
  const float* plane = nullptr;
  const int64_t* offset = nullptr;  // [32]: the tile's first output pixel in `plane`
  const int* rows = nullptr;        // [32]: rows of the tile inside the image (0..4)
  const int* cols = nullptr;        // [32]
  int lanes = 0;
  int64_t row_step = 0, col_step = 0;  // W * sh and sw
  // D[xi] of the tiles: lanes 0..15 at d + xi * xi_stride, lanes 16..31 half_offset after.
  float* d = nullptr;
  int64_t xi_stride = 0, half_offset = 16;
};

// Whole filters of grad_w from reduced taps: for lanes l < lanes (input channels) and
// e < run_len, run element e of lane l is out[src[e] + l] (a reduce output row, lane l),
// stored to (or, with accumulate, added to) dst[l * lane_stride + e].
struct FilterRunArgs {
  const float* out = nullptr;
  const int64_t* src = nullptr;  // [run_len]
  int64_t run_len = 0;
  int lanes = 0;  // <= 32
  float* dst = nullptr;
  int64_t lane_stride = 0;
  bool accumulate = false;
};

struct WgradKernels {
  // D = A y A^T of F(4x4, 3x3) for the 32 tiles of GradTileArgs.
  void (*grad_transform)(const GradTileArgs& a);
  // out[n][l] = (G^T dU G)[ab[n] / 3][ab[n] % 3] for lanes l < 32, dU[xi][l] = du[xi *
  // xi_stride + l] (the 36 transform points of one stacked channel), read only at the rows
  // and columns of the points set in `points` (its phase's: dU is zero elsewhere).
  void (*reduce)(const float* du, int64_t xi_stride, const int* ab, int n, uint64_t points, float* out);
  // out[xi * xi_stride + t * 32 + c] = in[(c * 36 + xi) * 32 + t]: 32 channels' transformed
  // tiles ([channel][xi][tile]) to the GEMM's [xi][tile][channel].
  void (*transpose)(const float* in, float* out, int64_t xi_stride);
  // FilterRunArgs: a transpose of run elements x lanes (16 x 16 blocks on AVX-512).
  void (*store_runs)(const FilterRunArgs& a);
};

const WgradKernels& wgrad_kernels_scalar();
const WgradKernels& wgrad_kernels_avx2();
const WgradKernels& wgrad_kernels_avx512();

inline const WgradKernels& wgrad_kernels_for(Isa isa) {
  switch (isa) {
    case Isa::avx512: return wgrad_kernels_avx512();
    case Isa::avx2: return wgrad_kernels_avx2();
    default: return wgrad_kernels_scalar();
  }
}

}  // namespace subpixel
}  // namespace cnnnative
