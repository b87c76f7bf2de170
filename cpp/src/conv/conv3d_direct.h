// Direct 3-D convolution for layers with many output channels (the C3D block): no column
// matrix. Output channels are the vector lanes, output positions along one row (od, oh)
// the register tile: for each input channel and tap, the weight vectors of one block of
// output channels are multiplied by one broadcast input value per position. The
// accumulators (AVX-512: 14 positions x 32 channels; AVX2: 6 x 16) stay in registers over
// the reduction (AVX2: over chunks of 8 input channels), so nothing but the input rows and
// the packed weights is read, and taps that fall in the depth or height padding are
// skipped instead of multiplied by zeros (vol2col + GEMM multiplies them). Only the width
// padding is materialised (a W-padded copy of the input).
// The stride-1 input gradient runs as this forward with the kernel flipped
// (conv3d_gemm.cc). The weight gradient is direct too: per output row, dy is transposed
// position-major and, for every input channel and valid tap row, the products with the
// input row are summed in registers over the row's positions (per-thread sums, added in
// thread order at the end).
//
// The kernels are in conv3d_direct__avx512.cc and conv3d_direct__avx2.cc; scalar uses
// vol2col + GEMM.
#pragma once
#include <cstdint>

#include "conv/conv3d.h"

namespace cnnnative {
namespace conv3d {

// One output row (od, oh) of one group, every channel block and every position.
struct DirectRow {
  const float* x;         // W-padded input of the group at (c 0, first valid tap's id, ih, 0)
  int64_t Cg, nt, nr, S;  // input channels, valid depth and height taps, width taps
  int64_t xc, xt, xr;     // x strides (floats) per input channel, depth tap, height tap
  int64_t xs, sw;         // x stride per width tap (dilation) and per output position (stride)
  const float* w;         // packed weights of block 0 at the first valid (kt, kr)
  int64_t wc, wt, wr;     // weight strides (floats) per input channel, depth tap, height tap
  int64_t block_floats;   // floats per packed weight block
  int64_t blocks;         // channel blocks; the last has last_vectors (1 or 2) of its
  int last_vectors;       // two vectors (half a block each)
  int64_t OW;
  float* out;             // OW x (blocks * block), position-major
};

using DirectRowKernel = void (*)(const DirectRow& row);

// The weight gradient of one output row and one input row it reads (one input channel,
// one valid depth and height tap): for every width tap ks and output channel k,
//   acc[ks][k] += sum over ow of x[ow * sw + ks * xs] * dy[ow][k]
// dy is the row's output gradient transposed position-major (OW x ldk, ldk a multiple of
// 16, zero past the channels); acc is S x ldk.
// nr consecutive valid height taps are done in one call: row q reads x + q * xr and
// accumulates into acc + q * accr.
struct WeightRow {
  const float* x;  // the input row (W-padded), at index 0
  int64_t sw, xs, S;
  int64_t nr, xr, accr;
  const float* dy;
  int64_t OW, ldk;
  float* acc;
};

using WeightRowKernel = void (*)(const WeightRow& row);

// dst[j * ldd + i] = src[i * lds + j] (+ add[j] when add is not null) for i < rows,
// j < cols; nothing else of dst is written.
using TransposeKernel = void (*)(const float* src, int64_t lds, int64_t rows, int64_t cols,
                                 const float* add, float* dst, int64_t ldd);

struct DirectKernels {
  DirectRowKernel forward_row;
  WeightRowKernel weight_row;
  TransposeKernel transpose;
  // Output channels per packed weight block (two vectors): the forward's packed weights
  // are [group][block][c][kt][kr][ks][block], zero past the group's channels.
  int64_t block;
};

// Null when the active ISA has no direct kernels.
const DirectKernels* direct_kernels();
const DirectKernels& direct_kernels_avx512();
const DirectKernels& direct_kernels_avx2();

// Whether direct_forward handles p on the active ISA (and is expected to beat vol2col +
// GEMM there). Callers also need finite weights: a skipped padding tap would turn
// 0 * NaN = NaN (what vol2col + GEMM and torch give) into nothing.
bool direct_forward_supported(const Conv3dParams& p);
// y = conv3d(x, w) + bias; same contract as conv3d_forward.
void direct_forward(const Conv3dParams& p, const float* x, const float* w, const float* bias, float* y);

// Whether direct_backward_weight handles p on the active ISA.
bool direct_weight_supported(const Conv3dParams& p);
// dw = the weight gradient (written in full); the bias gradient is separate. Returns false
// (dw unspecified) when dy holds a non-finite value at an output whose taps reach the
// depth/height padding: those products are 0 * NaN by definition, which the skipped
// taps would miss, so the caller recomputes with vol2col + GEMM.
bool direct_backward_weight(const Conv3dParams& p, const float* x, const float* dy, float* dw);

}  // namespace conv3d
}  // namespace cnnnative
