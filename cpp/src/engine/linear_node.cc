// Fully connected node: y (N x out) = x (N x in) * W^T + bias, then the activation.
// One threaded GEMM, then the epilogue (the output is tiny next to the weights).
#include "cnnnative/gemm.h"
#include "cnnnative/thread_pool.h"
#include "engine/kernels.h"

namespace cnnnative {
namespace engine {

void linear_forward(const Node& n, int64_t batch, const float* x, float* y, int threads) {
  const int64_t in = n.in_features, out = n.out_features;
  if (batch == 0) return;
  if (threads > 1)
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
