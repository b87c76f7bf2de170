// The transposed convolution as an engine node, with its bias and activation.
//
// conv_transpose2d(x, w) is the input gradient of the convolution conv2d(., w) of an
// image shaped like its output, so the node calls the very C++ entry point the eager op
// (ops/conv_transpose.py) calls, conv2d_backward_input (GEMM + col2im, or Winograd),
// straight into the arena output: compiled equals eager. Bias and the activation
// (ReLU/ReLU6 per value, the others through an ActivationPass) then run over each output
// plane right after, one plane per task, while it is in cache. Layers that decompose into
// sub-pixel phases (DCGAN's 4x4 stride 2) run them instead, as eager does, with the
// stacked weight built and Winograd-transformed once here at plan time (eager does both
// per call).

#include <algorithm>
#include <cstring>

#include "cnnnative/conv.h"
#include "cnnnative/errors.h"
#include "cnnnative/thread_pool.h"
#include "cnnnative/threads.h"
#include "cnnnative/winograd.h"
#include "conv/conv_transpose_subpixel.h"
#include "engine/kernels.h"

namespace cnnnative {
namespace engine {

namespace {
bool has_extra(const Node& n) { return n.extra_rows > 0 || n.extra_cols > 0; }

// x (batch, K, H, W) into dst (batch, K, H + extra_rows, W + extra_cols) with zeros in
// the extra rows/columns: the convolution's full output, whose gradient we propagate.
void pad_extra(const Node& n, int64_t batch, const float* x, float* dst, int threads) {
  const ConvParams& p = n.conv;
  const int64_t oh = p.output_h(), ow = p.output_w();
  const int64_t h = oh - n.extra_rows, w = ow - n.extra_cols;
  const int64_t planes = batch * p.K;
  team_for_each(threads, planes, [&](int64_t plane) {
    const float* src = x + plane * h * w;
    float* d = dst + plane * oh * ow;
    for (int64_t r = 0; r < h; ++r) {
      std::memcpy(d + r * ow, src + r * w, sizeof(float) * size_t(w));
      std::fill(d + r * ow + w, d + (r + 1) * ow, 0.f);
    }
    std::fill(d + h * ow, d + oh * ow, 0.f);
  });
}
// y = act(y + b) over one plane, the activation chosen outside the loop so each case is
// a plain vectorised loop (a switch per value kept the loop scalar: a compiled DCGAN
// generator ran 25% slower than eager with ReLU fused).
void add_bias_activate(float* y, int64_t n, float b, Activation act) {
  switch (act) {
    case Activation::relu:
#pragma omp simd
      for (int64_t i = 0; i < n; ++i) y[i] = activate(y[i] + b, Activation::relu);
      return;
    case Activation::relu6:
#pragma omp simd
      for (int64_t i = 0; i < n; ++i) y[i] = activate(y[i] + b, Activation::relu6);
      return;
    default:
      if (b == 0.f) return;
#pragma omp simd
      for (int64_t i = 0; i < n; ++i) y[i] += b;
  }
}

// Bytes of x with its extra zero rows/columns (at the front of the scratch).
int64_t padded_bytes(const Node& n) {
  if (!has_extra(n)) return 0;
  const ConvParams& p = n.conv;
  return checked_numel({std::max<int64_t>(p.N, 1), p.K, p.output_h(), p.output_w(), int64_t(sizeof(float))},
                       "conv_transpose workspace");
}
}  // namespace

// The stacked convolution's output, then Winograd's workspace, after the padded x.
int64_t subpixel_bytes(const Node& n, const subpixel::Geometry& g, int threads) {
  const char* what = "conv_transpose workspace";
  return checked_add(checked_mul(g.stacked_numel(), int64_t(sizeof(float)), what),
                     int64_t(winograd_prepared_workspace_bytes(g.conv, n.subpixel_winograd->tile, threads)), what);
}

int64_t conv_transpose_scratch_bytes(Node& n) {
  const ConvParams& p = n.conv;
  subpixel::Geometry g;
  // Decided at the planned batch; a run with a smaller one decides again (preferred).
  if (!n.subpixel_winograd && subpixel::preferred(p, &g, false, false) && subpixel::weight_finite(p, n.weight.data())) {
    std::vector<float> wsub(size_t(g.weight_numel()));
    subpixel::stacked_weight(p, g, n.weight.data(), wsub.data());
    n.subpixel_winograd =
        std::make_shared<WinogradWeights>(winograd_prepare(g.conv, wsub.data(), winograd_default_tile(g.conv)));
  }
  int64_t bytes = padded_bytes(n);
  if (n.subpixel_winograd && subpixel::decomposes(p, &g))
    bytes = checked_add(bytes, subpixel_bytes(n, g, num_threads()), "conv_transpose workspace");
  return bytes;
}

void conv_transpose_forward(const Node& n, int64_t batch, const float* x, float* y, float* scratch, int threads) {
  ConvParams p = n.conv;
  p.N = batch;
  const float* grad = x;
  if (has_extra(n)) {
    pad_extra(n, batch, x, scratch, threads);
    grad = scratch;
  }
  // The stacked path needs finite data (subpixel::forward says why); the prepared weights
  // are finite by construction.
  subpixel::Geometry g;
  if (n.subpixel_winograd && scratch && batch <= n.conv.N && subpixel::preferred(p, &g, false, false) &&
      subpixel::finite(grad, batch * p.K * p.output_h() * p.output_w())) {
    float* stacked = scratch + padded_bytes(n) / int64_t(sizeof(float));
    float* workspace = stacked + g.stacked_numel();
    const size_t workspace_bytes = size_t(n.scratch_bytes - padded_bytes(n)) - size_t(g.stacked_numel()) * sizeof(float);
    ConvParams c = g.conv;
    c.N = batch;
    winograd_forward_prepared(c, *n.subpixel_winograd, grad, stacked, ConvEpilogue{}, workspace, workspace_bytes,
                              threads);
    subpixel::interleave(p, g, stacked, y);
  } else {
    conv2d_backward_input(p, grad, n.weight.data(), y, "auto");
  }
  const int64_t hw = p.H * p.W, planes = batch * p.C;
  const Activation stored = stored_part(n.act);
  const ActivationPass pass = node_activation_pass(n);
  team_for_each(threads, planes, [&](int64_t plane) {
    const int64_t c = plane % p.C;
    const float b = n.bias[size_t(c)];
    float* yp = y + plane * hw;
    add_bias_activate(yp, hw, b, stored);
    pass.apply(yp, hw, c);
  });
}

}  // namespace engine
}  // namespace cnnnative
