// Fully connected node: y (N x out) = x (N x in) * W^T + bias, then the activation.
// One threaded GEMM, then the epilogue (the output is tiny next to the weights).
#include "cnnnative/gemm.h"
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
  for (int64_t i = 0; i < batch; ++i) {
    float* yr = y + i * out;
    for (int64_t j = 0; j < out; ++j) yr[j] = activate(yr[j] + n.bias[j], n.act);
  }
}

}  // namespace engine
}  // namespace cnnnative
