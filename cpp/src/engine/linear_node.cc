// Fully connected node: y (N x out) = x (N x in) * W^T + bias, then the activation.
// One threaded GEMM, then the epilogue (the output is tiny next to the weights).
#include <algorithm>

#include "cnnnative/gemm.h"
#include "cnnnative/thread_pool.h"
#include "engine/kernels.h"
#include "gemm/sbgemm.h"

namespace cnnnative {
namespace engine {

namespace {

// At batch 1-4 a linear layer streams its weights once, and in a network run they come cold
// from L3 or memory (the previous run evicted them): MobileNet-v3's 960 -> 1280 classifier
// took ~330 us on one core. Two cores each streaming half their rows take about half the
// time (measured 252 -> 128 us for 960 -> 1280, 75 -> 34 us for 960 -> 240 with cold
// weights), which sgemm's skinny path, tuned for warm operands, splits only from 16 MB.
// The executor gives such a node the team from 64K weights (its SE layers 672 -> 168 up).
// Each output feature is still one dot product in one order: same bits on any team.
constexpr int64_t kSplitMaxBatch = 4;

void split_features(const float* x, const float* w, int64_t batch, int64_t in, int64_t out, float* y,
                    int threads) {
  const int64_t chunks = (out + 63) / 64;  // whole 64-feature blocks per member
  run_team(threads, [&](int t, int team) {
    const int64_t j0 = std::min(out, chunks * t / team * 64), j1 = std::min(out, chunks * (t + 1) / team * 64);
    if (j1 > j0)
      sgemm_single_thread(false, true, batch, j1 - j0, in, 1.f, x, in, w + j0 * in, in, 0.f, y + j0, out);
  });
}

}  // namespace

void linear_forward(const Node& n, int64_t batch, const float* x, float* y, int threads) {
  const int64_t in = n.in_features, out = n.out_features;
  if (batch == 0) return;
  if (n.bf16_weights)  // bf16 inputs and weights, fp32 accumulation (gemm/sbgemm.h)
    bf16::gemm(x, in, batch, n.bf16_weights->groups.front(), y, out, threads);
  else if (threads > 1 && batch <= kSplitMaxBatch && out >= 128)
    split_features(x, n.weight.data(), batch, in, out, y, threads);
  else if (threads > 1)
    sgemm(false, true, batch, out, in, 1.f, x, in, n.weight.data(), in, 0.f, y, out);
  else
    sgemm_single_thread(false, true, batch, out, in, 1.f, x, in, n.weight.data(), in, 0.f, y, out);
  const Activation stored = stored_part(n.act);
  const ActivationPass pass = node_activation_pass(n);  // one slope per feature for prelu
  team_for_each(batch * out >= 16384 ? threads : 1, batch, [&](int64_t i) {
    float* yr = y + i * out;
    for (int64_t j = 0; j < out; ++j) yr[j] = activate(yr[j] + n.bias[j], stored);
    pass.apply_features(yr, out);  // the row just written, in cache
  });
}

}  // namespace engine
}  // namespace cnnnative
