// 1-D Winograd F(m, 3) for conv1d's 3-tap layers (the height-1 conv2d: H = R = 1, S = 3,
// stride 1, any dilation, groups 1): forward, input gradient and weight gradient.
//
// Dilation d splits the output into d interleaved phases (outputs o = ph, ph + d, ...);
// each phase is an undilated 3-tap conv of the inputs spaced d apart, cut into tiles of m
// outputs that read m + 2 inputs. Per tile, the (m + 2) transform points mix channels by
// (m + 2) GEMMs of K x C by C x tiles (the 2-D Winograd's packed-filter GEMM kernels,
// winograd_kernels.h) instead of 3m multiplies per output: 6 for 4 outputs at m = 4
// (2x fewer), 8 for 6 at m = 6 (2.25x fewer).
//
// Algorithms "winograd1x4", "winograd1x6" and "winograd1d" (the default tile); the
// input gradient is the same forward on dy with the taps reversed and K, C swapped.
// The weight gradient (backward_weight) is Winograd too: the gradient wrt the
// transformed filters is, per point, a GEMM of the transformed output gradients and
// the transformed inputs over all tiles; G^T maps it back to the 3 taps.
//
// Accuracy (float32 against float64, standard normal data, C = K = 256): max error over
// sqrt(3C) max|x| max|w| (the 2-D Winograd's measure, tests/ref_conv_fast.py) 6-9e-7 for
// m = 4 and m = 6 alike, forward and both gradients (im2col: 1-2e-7), about the 2-D
// F(2x2, 3x3)'s; tests/test_conv1d_winograd.py bounds it by 4e-6. The default is m = 6.
#pragma once
#include <string>

#include "cnnnative/conv_params.h"
#include "cnnnative/winograd.h"  // WinogradWeights, ConvEpilogue

namespace cnnnative {
namespace winograd1d {

// True when tile m (4 or 6) can run p; otherwise the reason in *why.
bool supports(const ConvParams& p, int m, std::string* why);
// The tile "winograd1d" (and the weight gradient under "auto") runs: 6.
int default_tile(const ConvParams& p);
// The "auto" rule: the shapes where it was measured faster than im2col (winograd1d.cc).
bool preferred(const ConvParams& p);
// The weight gradient's rule (fewer shapes: see winograd1d.cc).
bool preferred_for_weight(const ConvParams& p);

void forward(const ConvParams& p, int m, const float* x, const float* w, const float* bias, float* y);
void backward_input(const ConvParams& p, int m, const float* dy, const float* w, float* dx);
// dw[K, C, 1, 3] for a preferred_for_weight() shape (or one CNNNATIVE_ALGO=winograd1d /
// winograd1x4 / winograd1x6 names) with finite x and dy; false (nothing written) where it
// does not apply, and the caller runs the GEMM path.
bool backward_weight(const ConvParams& p, const float* x, const float* dy, float* dw);

// The inference engine's path: filters transformed once (tile m, 0: the default) into a
// WinogradWeights (packed [row block][point][panel], K x C, groups 1; ~(m+2)/3 the
// weights), then forward calls with the full epilogue (bias, residual, activation) in
// the caller's workspace of prepared_workspace_bytes(p, tile, threads) (null: allocated).
WinogradWeights prepare(const ConvParams& p, const float* w, int m = 0);
size_t prepared_workspace_bytes(const ConvParams& p, int m, int threads);
void forward_prepared(const ConvParams& p, const WinogradWeights& w, const float* x, float* y,
                      const ConvEpilogue& ep, float* workspace, size_t workspace_bytes, int threads);

}  // namespace winograd1d
}  // namespace cnnnative
