// Element-wise and layout nodes: add (+activation), per-channel affine (an unfolded
// BatchNorm), activation, softmax, channel concat. Flatten is a plain copy.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "act/elementwise.h"
#include "cnnnative/thread_pool.h"
#include "engine/kernels.h"
#include "norm/kernels.h"

namespace cnnnative {
namespace engine {

namespace {
// Blocks small enough that the activation pass after each finds it in L1.
constexpr int64_t kBlock = 4096;

// The ISA's vector kernel for ReLU / ReLU6 (the activations the nodes store themselves),
// or null. These files are built for the baseline ISA: a scalar loop with the activation
// switch inside ran at about 1 ns per element (DenseNet's 62 BatchNorm+ReLU nodes: 13 ms
// of 95 on one thread).
UnaryKernel stored_kernel(Activation a) {
  switch (a) {
    case Activation::relu: return elementwise_kernels().unary[static_cast<int>(UnaryOp::relu)];
    case Activation::relu6: return elementwise_kernels().unary[static_cast<int>(UnaryOp::relu6)];
    default: return nullptr;
  }
}
}  // namespace

void add_forward(const Node& n, int64_t count, const float* a, const float* b, float* y, int threads) {
  const Activation act = stored_part(n.act);
  const ActivationPass pass = node_activation_pass(n);
  const BinaryKernel sum = elementwise_kernels().binary[static_cast<int>(BinaryOp::add)];
  const UnaryKernel stored = stored_kernel(act);
  team_for_each(threads, (count + kBlock - 1) / kBlock, [&](int64_t block) {
    const int64_t i0 = block * kBlock, m = std::min(count, i0 + kBlock) - i0;
    sum(a + i0, b + i0, y + i0, m, ActParams{});
    if (stored) stored(y + i0, y + i0, m, ActParams{});
    pass.apply(y + i0, m, 0);
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
  const UnaryKernel stored = stored_kernel(act);
  team_for_each(threads, (count + kBlock - 1) / kBlock, [&](int64_t block) {
    const int64_t i0 = block * kBlock, m = std::min(count - i0, kBlock);
    if (stored)
      stored(x + i0, y + i0, m, ActParams{});
    else if (y != x)
      std::memcpy(y + i0, x + i0, sizeof(float) * size_t(m));
  });
}

void channel_affine_forward(const Node& n, int64_t batch, const float* x, float* y, int threads) {
  const int64_t C = n.in_shape[1];
  int64_t inner = 1;
  for (size_t i = 2; i < n.in_shape.size(); ++i) inner *= n.in_shape[i];
  const int64_t planes = batch * C;
  const Activation act = stored_part(n.act);
  const ActivationPass pass = node_activation_pass(n);
  const norm::Kernels& vec = norm::kernels();
  const UnaryKernel stored = stored_kernel(act);
  team_for_each(threads, planes, [&](int64_t plane) {
    const int64_t c = plane % C;
    const float* xp = x + plane * inner;
    float* yp = y + plane * inner;
    for (int64_t i0 = 0; i0 < inner; i0 += kBlock) {  // each block's activation pass finds it in L1
      const int64_t m = std::min(inner - i0, kBlock);
      vec.scale_shift(xp + i0, yp + i0, m, 0.f, n.weight[c], n.bias[c]);
      if (stored) stored(yp + i0, yp + i0, m, ActParams{});
    }
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
