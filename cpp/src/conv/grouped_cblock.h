// Grouped convolution with small groups (ResNeXt's 32 groups of 4-16 channels, RegNet's
// groups of 8) with 16 channels per AVX-512 vector, the layout of depthwise_cblock.h.
//
// Why: as GEMMs, these layers are products with 4-16 rows per group (M = K/groups), far too
// short for the packed kernels: 11-35 GFLOP/s on one core against oneDNN's 27-81 (torch).
// Here a block of 16 output channels holds 16/CG whole groups, whose inputs are the same 16
// channels; lane o of a tap's accumulation needs input channel (o / CG) * CG + j for each
// j < CG, so every (tap, j) is one FMA of a weight vector (16 output channels) with that
// input value spread over its group's lanes: a broadcast load for CG = 16, a vector from a
// pre-spread copy of the band for CG = 4 and 8.
#pragma once
#include <cstdint>
#include <functional>

#include "cnnnative/conv_params.h"

namespace cnnnative {
namespace grouped {

// The geometry this kernel takes (the ISA check is separate): K == C, channels per group
// CG in {4, 8, 16} (a 16-channel block holds whole groups) or 32 (two blocks per group: the
// band holds both halves of the group's input), R x S = 3 x 3, dilation 1, equal strides
// of 1 or 2.
bool geometry_ok(const ConvParams& p);

// Whether compiled models run p with this kernel: the AVX-512 ISA and geometry_ok.
bool use_channel_blocks(const ConvParams& p);

// The whole layer on `threads` threads (items as in depthwise_cblock.h's
// for_each_channel_block). bias may be null; act 0 none, 1 ReLU, 2 ReLU6; residual (or null)
// is added before the activation. after(), if given, runs on each item's output.
void forward(const ConvParams& p, int64_t batch, const float* x, const float* w, const float* bias,
             const float* residual, float* y, int act, int threads,
             const std::function<void(float* y_img, int64_t c0, int nc, int64_t oh0, int64_t oh1)>& after = {});

// One item, AVX-512 (grouped_cblock__avx512.cc): output rows [oh0, oh1) of channels
// [c0, c0 + nc) of one image; scratch of scratch_floats(p, oh1 - oh0) floats.
void band__avx512(const ConvParams& p, const float* x_img, const float* w, const float* bias, int64_t c0, int nc,
                  int64_t oh0, int64_t oh1, const float* residual_img, float* y_img, int act, float* scratch);
int64_t band_rows(const ConvParams& p);
int64_t scratch_floats(const ConvParams& p, int64_t band);

}  // namespace grouped
}  // namespace cnnnative
