// Direct 3-D convolution for layers with many output channels (the C3D block): no column
// matrix. Output channels are the vector lanes, output positions along one row (od, oh)
// the register tile: for each input channel and tap, a weight vector of 16 or 32 output
// channels is multiplied by one broadcast input value per position. The accumulators
// (14 positions x 32 channels) stay in registers over the whole reduction, so nothing but
// the input rows and the packed weights is read, and taps that fall in the depth or
// height padding are skipped instead of multiplied by zeros (vol2col + GEMM multiplies
// them). Only the width padding is materialised (a W-padded copy of the input).
//
// The AVX-512 row kernel is in conv3d_direct__avx512.cc; other ISAs use vol2col + GEMM.
#pragma once
#include <cstdint>

#include "conv/conv3d.h"

namespace cnnnative {
namespace conv3d {

// Channels per packed weight block (two AVX-512 vectors).
constexpr int64_t kDirectBlock = 32;

// One output row (od, oh) of one group, every channel block and every position.
struct DirectRow {
  const float* x;         // W-padded input of the group at (c 0, first valid tap's id, ih, 0)
  int64_t Cg, nt, nr, S;  // input channels, valid depth and height taps, width taps
  int64_t xc, xt, xr;     // x strides (floats) per input channel, depth tap, height tap
  int64_t xs, sw;         // x stride per width tap (dilation) and per output position (stride)
  const float* w;         // packed weights of block 0 at the first valid (kt, kr)
  int64_t wc, wt, wr;     // weight strides (floats) per input channel, depth tap, height tap
  int64_t block_floats;   // floats per packed weight block
  int64_t blocks;         // channel blocks; the last has last_vectors (1 or 2) vectors
  int last_vectors;
  int64_t OW;
  float* out;             // OW x (blocks * kDirectBlock), position-major
};

using DirectRowKernel = void (*)(const DirectRow& row);

// Null when the active ISA has no direct kernel.
DirectRowKernel direct_row_kernel();
DirectRowKernel direct_row_kernel_avx512();

// Whether conv3d_direct_forward handles p on the active ISA (and is expected to beat
// vol2col + GEMM there).
bool direct_forward_supported(const Conv3dParams& p);
// y = conv3d(x, w) + bias; same contract as conv3d_forward.
void direct_forward(const Conv3dParams& p, const float* x, const float* w, const float* bias, float* y);

}  // namespace conv3d
}  // namespace cnnnative
