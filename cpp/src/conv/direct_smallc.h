// Direct convolution for layers with few input channels and large, strided kernels:
// the ResNet stem (7x7 stride 2, 3 -> 64) and AlexNet conv1 (11x11 stride 4, 3 -> 96);
// auto also takes it for other strided kernels with up to 64 channels (conv/algo.cc).
//
// Why not im2col: with C = 3 the GEMM is short and deep (K x 147 times 147 x pixels),
// and the unfolded matrix is R*S = 49..121 copies of the image. Here the kernel keeps
// a register tile of output channels x output pixels and walks the C*R*S taps itself.
//
// The trick that makes every tap ONE contiguous vector load, whatever the stride: work is
// split into chunks of consecutive output pixels (flat index oh * OW + ow), and for the
// output rows oh0.. a chunk touches, its thread builds "tap planes" -- for input channel
// c, kernel column s and row phase q (= r*dilation_h mod stride_h) the plane
//     plane(c, s, q)[row][ow] = x_padded[c][stride_h * (oh0 + row) + q][stride_w * ow + s * dilation_w]
// with row pitch OW. The input value that tap (c, r, s) needs for output pixel
// (oh, ow) is then plane(c, s, q)[(oh - oh0) + r*dilation_h / stride_h][ow], i.e. at
// offset tap_offset(c, r, s) + j from the plane's start, where j = (oh - oh0) * OW + ow
// -- LINEAR in the output pixel index, across row ends. So the convolution becomes a
// 1-D problem:
//     y[k][j] = bias[k] + sum over taps t of w[k][t] * planes[tap_offset[t] + j]
// computed in register tiles of 8 channels x 48 pixels (AVX-512), and the NCHW output is
// written with plain contiguous stores; only an image's last vector has idle lanes. The
// planes hold C*S*stride_h*(rows + halo)*OW floats: R/stride_h times fewer copies than
// im2col's unfolded matrix (3.5x for the stem), built with memcpy from de-interleaved
// input rows, and sized to stay in L2 (~384 KiB per chunk).
//
// Measured (1 thread, AVX-512, Zen 5): the tap loop runs at ~98% of the FMA peak; the
// whole call at ~92% (plane building ~3%, the rest is the caller's output allocation).
// A direct convolution cannot go faster than the FMA peak: direct_smallc_wino.h has the
// fast-algorithm variant (1-D Winograd F(2,3) / F(2,4) along the width; on AVX-512 the
// choice for the stem, AlexNet conv1 and few-channel 3x3/1).
//
// Forward only: the registered algorithm "direct_smallc" (also reached by algo="direct"
// for non-depthwise shapes) has no input gradient; algo="auto" runs the gradients on
// im2col. Groups must be 1; any stride, dilation and (asymmetric) padding.
// Error: as im2col, one float32 sum of C*R*S products per output.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "cnnnative/conv_params.h"
#include "cnnnative/winograd.h"  // ConvEpilogue, Activation

namespace cnnnative {
namespace direct_smallc {

// Output channels are packed in blocks of this many (the widest register tile).
constexpr int64_t kBlockK = 8;

// True when the kernel can run p (groups == 1, at most kMaxChannels input channels).
constexpr int64_t kMaxChannels = 64;
bool supports(const ConvParams& p, std::string* why);

// Weights re-arranged for the kernels: [ceil(K/8)][C*R*S taps][8] (channels past K are 0),
// so a block's 8 weights for one tap are adjacent. Independent of the ISA.
int64_t packed_weight_floats(const ConvParams& p);
void pack_weights(const ConvParams& p, const float* w, float* packed);

// Scratch (bytes) forward_packed needs for `threads` threads: each thread's tap planes.
size_t workspace_bytes(const ConvParams& p, int threads);

// y[N,K,OH,OW] = activation(conv(x, w) + bias + residual) with the epilogue applied in
// registers (residual must not alias y). workspace: `workspace_size` bytes of scratch; when
// null or smaller than workspace_bytes(p, threads) the call allocates its own. Uses the
// active ISA's kernel.
void forward_packed(const ConvParams& p, const float* x, const float* packed_w, const ConvEpilogue& ep,
                    float* y, float* workspace, size_t workspace_size, int threads);

// The registry's entry: packs the weights, then forward_packed with num_threads().
void forward(const ConvParams& p, const float* x, const float* w, const float* bias, float* y);

}  // namespace direct_smallc
}  // namespace cnnnative
