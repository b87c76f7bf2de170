// Depthwise convolution with channels in the vector lanes (AVX-512): 16 channels of one
// image are moved into a zero-padded (rows, columns, 16) copy, convolved there with one
// FMA per tap per output pixel and no shuffles, and moved back to NCHW through 16 x 16
// register transposes.
//
// Why: the per-plane kernels (depthwise_kernels.h) put a row's pixels in the lanes, which
// idles most lanes on 7x7 and 14x14 planes, and needs permutes at stride 2 and a load per
// tap for 5x5 kernels. MobileNet-v3, EfficientNet and MnasNet run 5x5 and stride-2
// depthwise layers on such planes (measured 2.4-5.6x slower than ONNX Runtime, whose
// NCHWc layout has the channels in the lanes). The two transposes cost about one pass
// over the input and the output; a 5x5 or 3x3 tap loop is 9-25 FMAs per output.
#pragma once
#include <cstdint>
#include <functional>

#include "cnnnative/conv_params.h"

namespace cnnnative {
namespace depthwise {

// Channels per block: one AVX-512 register of floats.
constexpr int kCBlockLanes = 16;

// Geometry this kernel takes: dilation 1, equal strides of 1 or 2, square-or-not kernels
// with S in {3, 5, 7} and R <= 7. The ISA check is the caller's (AVX-512 only).
bool cblock_geometry_ok(const ConvParams& p);

// Output rows per band (a band's padded input copy stays well inside L2) and the floats
// of per-thread scratch cblock_forward needs for bands of that many rows.
int64_t cblock_band_rows(const ConvParams& p);
int64_t cblock_scratch_floats(const ConvParams& p, int64_t band_rows);

// Output rows [oh0, oh1) of channels [c0, c0 + nc) (1 <= nc <= 16) of one image:
//   y[c][oh][ow] = act(bias[c] + sum_{r,s} w[c][r][s] * x[c][oh*sh - pt + r][ow*sw - pl + s]
//                      + residual[c][oh][ow])
// x_img, y_img, residual_img (or null): the image's C x H x W input, C x OH x OW output
// and residual. w: C x R x S; bias: C floats. act: 0 none, 1 ReLU, 2 ReLU6 (NaN stays
// NaN). scratch: cblock_scratch_floats(p, oh1 - oh0) floats, 64-byte aligned.
// Whether the engine runs p (an AVX-512 CPU, multiplier 1) channel-blocked: the shapes where
// it was measured faster than the per-plane kernels (see prefer_channel_blocks in
// depthwise_cblock.cc), unless a test forced one layout.
bool use_channel_blocks(const ConvParams& p);

// Tests and benchmarks: "auto" (the measured rule), "planes" or "channels" (wherever the
// geometry allows), for every later engine run in the process.
enum class DepthwiseLayout { automatic, planes, channels };
void force_depthwise_layout(DepthwiseLayout layout);

// The work of a channel-blocked layer: items (image, block of 16 channels, band of output
// rows), shared out statically over `threads`, with bands cut smaller when there would be
// fewer than two items per thread. item(scratch, image, c0, nc, oh0, oh1) gets its
// member's scratch_floats(band) floats (64-byte aligned).
using CBlockItem = std::function<void(float* scratch, int64_t image, int64_t c0, int nc, int64_t oh0, int64_t oh1)>;
void for_each_channel_block(int64_t batch, int64_t C, int64_t OH, int64_t band, int threads,
                            const std::function<int64_t(int64_t band)>& scratch_floats, const CBlockItem& item);

// The whole layer channel-blocked, on `threads` threads: items (image, block of 16
// channels, band of output rows) shared out statically, bands cut smaller when there are
// fewer items than twice the threads. bias may be null (zero); act and residual as in
// cblock_forward__avx512. after(y_img, c0, nc, oh0, oh1), if given, runs on each item's
// output right after it is stored (the engine's other activations, while in cache).
using CBlockAfter = std::function<void(float* y_img, int64_t c0, int nc, int64_t oh0, int64_t oh1)>;
void channel_blocks_forward(const ConvParams& p, int64_t batch, const float* x, const float* w, const float* bias,
                            const float* residual, float* y, int act, int threads, const CBlockAfter& after = {});

void cblock_forward__avx512(const ConvParams& p, const float* x_img, const float* w, const float* bias,
                            int64_t c0, int nc, int64_t oh0, int64_t oh1, const float* residual_img, float* y_img,
                            int act, float* scratch);

}  // namespace depthwise
}  // namespace cnnnative
