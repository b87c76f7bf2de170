// Element-wise and layout nodes: add (+activation), per-channel affine (an unfolded
// BatchNorm), activation, softmax, channel concat. Flatten is a plain copy.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "cnnnative/thread_pool.h"
#include "engine/kernels.h"

namespace cnnnative {
namespace engine {

namespace {
// Blocks small enough that the activation pass after each finds it in L1.
constexpr int64_t kBlock = 4096;
}  // namespace

void add_forward(const Node& n, int64_t count, const float* a, const float* b, float* y, int threads) {
  const Activation act = stored_part(n.act);
  const ActivationPass pass = node_activation_pass(n);
  team_for_each(threads, (count + kBlock - 1) / kBlock, [&](int64_t block) {
    const int64_t i0 = block * kBlock, i1 = std::min(count, i0 + kBlock);
    for (int64_t i = i0; i < i1; ++i) y[i] = activate(a[i] + b[i], act);
    pass.apply(y + i0, i1 - i0, 0);
  });
}

void activation_forward(const Node& n, int64_t count, const float* x, float* y, int threads) {
  const Activation act = stored_part(n.act);
  const ActivationPass pass = node_activation_pass(n);
  if (pass) {  // the elementwise kernel itself, from x straight into y
    team_for_each(threads, (count + kBlock - 1) / kBlock, [&](int64_t block) {
      const int64_t i0 = block * kBlock;
      pass.fn(x + i0, y + i0, std::min(count - i0, kBlock), pass.param(0));
    });
    return;
  }
  run_team(threads, [&](int tid, int team) {
    const auto [begin, end] = team_share(count, tid, team);
    for (int64_t i = begin; i < end; ++i) y[i] = activate(x[i], act);
  });
}

void channel_affine_forward(const Node& n, int64_t batch, const float* x, float* y, int threads) {
  const int64_t C = n.in_shape[1];
  int64_t inner = 1;
  for (size_t i = 2; i < n.in_shape.size(); ++i) inner *= n.in_shape[i];
  const int64_t planes = batch * C;
  const Activation act = stored_part(n.act);
  const ActivationPass pass = node_activation_pass(n);
  team_for_each(threads, planes, [&](int64_t plane) {
    const int64_t c = plane % C;
    const float s = n.weight[c], t = n.bias[c];
    const float* xp = x + plane * inner;
    float* yp = y + plane * inner;
    for (int64_t i = 0; i < inner; ++i) yp[i] = activate(xp[i] * s + t, act);
    pass.apply(yp, inner, c);
  });
}

void softmax_forward(const Node& n, int64_t batch, const float* x, float* y) {
  const int64_t F = n.in_shape[1];
  for (int64_t i = 0; i < batch; ++i) {
    const float* xr = x + i * F;
    float* yr = y + i * F;
    float m = xr[0];
    for (int64_t j = 1; j < F; ++j) m = std::max(m, xr[j]);
    double sum = 0.0;  // double: F may be large (e.g. 1000 classes)
    for (int64_t j = 0; j < F; ++j) {
      yr[j] = std::exp(xr[j] - m);
      sum += yr[j];
    }
    const float inv = float(1.0 / sum);
    for (int64_t j = 0; j < F; ++j) yr[j] *= inv;
  }
}

void channel_slice_forward(int64_t batch, const float* x, int64_t x_per_sample, int64_t offset, float* y,
                           int64_t y_per_sample) {
  for (int64_t i = 0; i < batch; ++i)
    std::memcpy(y + i * y_per_sample, x + i * x_per_sample + offset, sizeof(float) * y_per_sample);
}

void concat_part_forward(int64_t batch, const float* x, int64_t per_sample, float* y, int64_t y_per_sample,
                         int64_t offset) {
  for (int64_t i = 0; i < batch; ++i)
    std::memcpy(y + i * y_per_sample + offset, x + i * per_sample, sizeof(float) * per_sample);
}

}  // namespace engine
}  // namespace cnnnative
