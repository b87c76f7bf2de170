// The NaN/inf rule for the transform algorithms (Winograd, FFT): an output is NaN or
// +-inf exactly where the direct sum says, and outputs whose receptive field holds no
// non-finite value stay finite and correct (README "Conventions").
//
// A transform mixes every pixel of a tile (Winograd) or window (FFT) into every
// transformed value, so one NaN would spread to the whole tile in all output channels,
// and an inf would meet -inf inside the transform (inf - inf = NaN). keep_nonfinite()
// therefore runs the fast algorithm only on finite data: when the input holds a
// non-finite value (one cheap scan; all-finite inputs pay nothing else), the fast
// algorithm runs on a copy with those values set to 0, and the outputs whose receptive
// field holds one are then recomputed by the direct sum (in double) with the same
// epilogue. Non-finite weights touch every output: the direct sum computes them all.
#pragma once
#include <cstdint>
#include <vector>

#include "cnnnative/winograd.h"  // ConvEpilogue

namespace cnnnative {
namespace nonfinite {

// A correlation of groups: y[N,K,OH,OW] from x[N,C,H,W] and filters w[K, C/groups, R, S];
// output (oh, ow) tap (r, s) reads input (oh * stride_h - pad_top + r * dilation_h, likewise
// along the width), zero outside (pads may be negative: the input gradient crops).
struct Correlation {
  int64_t N, C, H, W, K, groups, OH, OW, R, S, pad_top, pad_left;
  int64_t stride_h = 1, stride_w = 1, dilation_h = 1, dilation_w = 1;
};

// True when no float of x[0, n) is NaN or +-inf (exponent bits all ones).
bool all_finite(const float* x, int64_t n, int threads);

// y = epilogue(direct correlation) at the outputs whose receptive field holds a
// non-finite input (all outputs when every_output); the others are left as they are.
void direct_outputs(const Correlation& q, const float* x, const float* w, const ConvEpilogue& ep, float* y,
                    bool every_output, int threads);

// x with every non-finite value replaced by 0.
std::vector<float> finite_copy(const float* x, int64_t n);

// Runs fast(x) when x and the weights are finite. Otherwise see the file comment;
// problem_weights() gives the filters in the Correlation's [K, C/groups, R, S] order
// (called only then).
template <class Fast, class Weights>
void keep_nonfinite(const Correlation& q, const float* x, bool weights_finite, const ConvEpilogue& ep, float* y,
                    int threads, Fast&& fast, Weights&& problem_weights) {
  const int64_t n = q.N * q.C * q.H * q.W;
  if (!weights_finite) {
    direct_outputs(q, x, problem_weights().data(), ep, y, true, threads);
    return;
  }
  if (all_finite(x, n, threads)) {
    fast(x);
    return;
  }
  const std::vector<float> clean = finite_copy(x, n);
  fast(clean.data());
  direct_outputs(q, x, problem_weights().data(), ep, y, false, threads);
}

}  // namespace nonfinite
}  // namespace cnnnative
