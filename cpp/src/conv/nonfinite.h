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
// Those outputs are NaN when the window holds a NaN, else the sum of its inf taps
// (+-inf, or NaN for inf - inf and 0 * inf): the finite taps cannot change an infinite
// sum, so they are skipped and only the signs of the weights matter (tap_signs).
void direct_outputs(const Correlation& q, const float* x, const float* w, const ConvEpilogue& ep, float* y,
                    bool every_output, int threads);

// x with every non-finite value replaced by 0.
std::vector<float> finite_copy(const float* x, int64_t n);

// Each weight's sign (-1, 0, +1), kept instead of the weights where they are finite and
// only the outputs whose window meets an inf are recomputed (direct_outputs adds up only
// the non-finite taps there, so the signs give the same result); and back as floats.
std::vector<int8_t> tap_signs(const float* w, int64_t n);
std::vector<float> sign_filters(const std::vector<int8_t>& signs);

// The filters as keep_nonfinite() checks them: raw (scanned when needed) or prepared
// (checked once, the result in `finite`).
struct Filters {
  const float* raw = nullptr;
  int64_t count = 0;
  bool finite = true;  // when raw is null
};

// Runs fast(x) when x and the weights are finite. Otherwise see the file comment;
// problem_weights() gives the filters in the Correlation's [K, C/groups, R, S] order
// (called only then). Raw filters larger than the output, without an activation, are
// scanned only when the output holds NaN/inf: finite outputs of the fast path prove the
// filters they used finite (a NaN or inf filter tap makes every product it enters
// non-finite, and nothing turns that back into a finite number but an activation).
template <class Fast, class Weights>
void keep_nonfinite(const Correlation& q, const float* x, const Filters& f, const ConvEpilogue& ep, float* y,
                    int threads, Fast&& fast, Weights&& problem_weights) {
  auto filters_finite = [&] { return f.raw ? all_finite(f.raw, f.count, threads) : f.finite; };
  if (!all_finite(x, q.N * q.C * q.H * q.W, threads)) {
    if (!filters_finite()) {
      direct_outputs(q, x, problem_weights().data(), ep, y, true, threads);
      return;
    }
    const std::vector<float> clean = finite_copy(x, q.N * q.C * q.H * q.W);
    fast(clean.data());
    direct_outputs(q, x, problem_weights().data(), ep, y, false, threads);
    return;
  }
  const int64_t outputs = q.N * q.K * q.OH * q.OW;
  const bool check_after = f.raw && ep.activation == Activation::none && outputs < f.count;
  if (!check_after && !filters_finite()) {
    direct_outputs(q, x, problem_weights().data(), ep, y, true, threads);
    return;
  }
  fast(x);
  if (check_after && !all_finite(y, outputs, threads) && !filters_finite())
    direct_outputs(q, x, problem_weights().data(), ep, y, true, threads);
}

}  // namespace nonfinite
}  // namespace cnnnative
