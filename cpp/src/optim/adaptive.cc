// Step configs and threaded drivers for the adaptive optimizer kernels (see optim/adaptive.h).
#include "optim/adaptive.h"

#include <cmath>

#include "act/isa_table.h"
#include "act/parallel.h"

namespace cnnnative {
namespace {

constexpr int64_t kGrain = 32768;

const AdaptiveKernels& kernels() {
  return table_for_active_isa(adaptive_kernels_scalar, adaptive_kernels_avx2, adaptive_kernels_avx512);
}

inline float to_float(double x) { return static_cast<float>(x); }

}  // namespace

Lerp Lerp::of(double w) {
  Lerp l;
  const float wf = to_float(w);
  l.from_end = !(std::fabs(wf) < 0.5f);  // PyTorch's is_lerp_weight_small, on the float weight
  l.coeff = l.from_end ? wf - 1.0f : wf;
  return l;
}

AdamConfig adam_config(double lr, double beta1, double beta2, double eps, double weight_decay, bool amsgrad,
                       bool decoupled_weight_decay, bool maximize, int64_t step) {
  // torch.optim.adam._single_tensor_adam: the step is a float, the corrections Python floats.
  const double t = static_cast<double>(step);
  const double bias_correction1 = 1.0 - std::pow(beta1, t);
  const double bias_correction2 = 1.0 - std::pow(beta2, t);
  AdamConfig c;
  c.grad_sign = maximize ? -1.0f : 1.0f;
  if (decoupled_weight_decay)
    c.decay_factor = to_float(1.0 - lr * weight_decay);
  else
    c.weight_decay = to_float(weight_decay);
  c.first = Lerp::of(1.0 - beta1);
  c.beta2 = to_float(beta2);
  c.one_minus_beta2 = to_float(1.0 - beta2);
  c.neg_step_size = to_float(-(lr / bias_correction1));
  c.bias_correction2_sqrt = to_float(std::pow(bias_correction2, 0.5));
  c.eps = to_float(eps);
  c.amsgrad = amsgrad;
  return c;
}

RmspropConfig rmsprop_config(double lr, double alpha, double eps, double weight_decay, double momentum,
                             bool centered, bool maximize) {
  RmspropConfig c;
  c.grad_sign = maximize ? -1.0f : 1.0f;
  c.weight_decay = to_float(weight_decay);
  c.alpha = to_float(alpha);
  c.one_minus_alpha = to_float(1.0 - alpha);
  c.average = Lerp::of(1.0 - alpha);
  c.eps = to_float(eps);
  c.momentum = momentum > 0.0 ? to_float(momentum) : 0.0f;
  c.neg_lr = to_float(-lr);
  c.centered = centered;
  return c;
}

AdagradConfig adagrad_config(double lr, double lr_decay, double eps, double weight_decay, bool maximize,
                             int64_t step) {
  AdagradConfig c;
  c.grad_sign = maximize ? -1.0f : 1.0f;
  c.weight_decay = to_float(weight_decay);
  c.neg_clr = to_float(-(lr / (1.0 + (static_cast<double>(step) - 1.0) * lr_decay)));
  c.eps = to_float(eps);
  return c;
}

void adam_update(float* param, const float* grad, float* exp_avg, float* exp_avg_sq, float* max_exp_avg_sq,
                 int64_t n, const AdamConfig& cfg) {
  const AdaptiveKernels& k = kernels();
  parallel_for(n, kGrain, [&](int64_t b, int64_t e) {
    k.adam(param + b, grad + b, exp_avg + b, exp_avg_sq + b, max_exp_avg_sq ? max_exp_avg_sq + b : nullptr,
           e - b, cfg);
  });
}

void rmsprop_update(float* param, const float* grad, float* square_avg, float* grad_avg, float* momentum_buffer,
                    int64_t n, const RmspropConfig& cfg) {
  const AdaptiveKernels& k = kernels();
  parallel_for(n, kGrain, [&](int64_t b, int64_t e) {
    k.rmsprop(param + b, grad + b, square_avg + b, grad_avg ? grad_avg + b : nullptr,
              momentum_buffer ? momentum_buffer + b : nullptr, e - b, cfg);
  });
}

void adagrad_update(float* param, const float* grad, float* sum, int64_t n, const AdagradConfig& cfg) {
  const AdaptiveKernels& k = kernels();
  parallel_for(n, kGrain, [&](int64_t b, int64_t e) { k.adagrad(param + b, grad + b, sum + b, e - b, cfg); });
}

}  // namespace cnnnative
