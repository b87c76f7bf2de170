// Fused updates of the adaptive optimizers: Adam / AdamW, RMSprop and Adagrad.
//
// Each is one pass over a parameter tensor doing PyTorch's whole single-tensor step
// (torch.optim.*, foreach=False) element by element, in PyTorch's order of float
// operations. The per-step scalars PyTorch computes in double on the host (bias
// corrections, step size, Adagrad's decayed lr, AdamW's decay factor) are computed by the
// caller in double and passed here already rounded to float, as PyTorch passes them to its
// kernels. Elementwise (g = grad, negated when maximize; p = param):
//
// Adam / AdamW
//   p = p * decay_factor                  (AdamW: decay_factor = 1 - lr * weight_decay)
//   g = g + weight_decay * p              (Adam with weight_decay != 0)
//   m = lerp(m, g, 1 - beta1)
//   v = v * beta2 + (1 - beta2) * g * g
//   vmax = maximum(vmax, v); v' = vmax    (amsgrad; NaN propagates like torch.maximum)
//   p = p + (-step_size * m) / (sqrt(v') / bias_correction2_sqrt + eps)
// RMSprop
//   g = g + weight_decay * p
//   s = s * alpha + (1 - alpha) * g * g
//   centered: a = lerp(a, g, 1 - alpha);  avg = sqrt(s - a * a) + eps
//   otherwise: avg = sqrt(s) + eps
//   momentum: b = b * momentum + g / avg;  p = p - lr * b
//   otherwise: p = p + (-lr * g) / avg
// Adagrad
//   g = g + weight_decay * p
//   s = s + g * g
//   p = p + (-clr * g) / (sqrt(s) + eps)   (clr = lr / (1 + (step - 1) * lr_decay))
#pragma once
#include <cstdint>

namespace cnnnative {

// torch.lerp(start, end, w) = start + w * (end - start) when |w| < 0.5, else
// end - (1 - w) * (end - start), which is end + (w - 1) * (end - start): the same
// expression with another base and coefficient.
struct Lerp {
  float coeff = 0.0f;  // w, or w - 1
  bool from_end = false;
  static Lerp of(double w);
};

struct AdamConfig {
  float grad_sign = 1.0f;      // -1 when maximize
  float decay_factor = 1.0f;   // AdamW's 1 - lr * weight_decay (exactly 1 otherwise)
  float weight_decay = 0.0f;   // Adam's L2 term added to the gradient (0 for AdamW)
  Lerp first;                  // lerp weight 1 - beta1
  float beta2 = 0.0f, one_minus_beta2 = 0.0f;
  float neg_step_size = 0.0f;  // -(lr / (1 - beta1^step))
  float bias_correction2_sqrt = 1.0f;
  float eps = 0.0f;
  bool amsgrad = false;
};

struct RmspropConfig {
  float grad_sign = 1.0f;
  float weight_decay = 0.0f;
  float alpha = 0.0f, one_minus_alpha = 0.0f;
  Lerp average;                // lerp weight 1 - alpha (centered)
  float eps = 0.0f;
  float momentum = 0.0f;
  float neg_lr = 0.0f;
  bool centered = false;
};

struct AdagradConfig {
  float grad_sign = 1.0f;
  float weight_decay = 0.0f;
  float neg_clr = 0.0f;        // -(lr / (1 + (step - 1) * lr_decay))
  float eps = 0.0f;
};

struct AdaptiveKernels {
  // max_exp_avg_sq: null unless amsgrad.
  void (*adam)(float* param, const float* grad, float* exp_avg, float* exp_avg_sq, float* max_exp_avg_sq,
               int64_t n, const AdamConfig& cfg);
  // grad_avg: null unless centered; momentum_buffer: null unless momentum > 0.
  void (*rmsprop)(float* param, const float* grad, float* square_avg, float* grad_avg, float* momentum_buffer,
                  int64_t n, const RmspropConfig& cfg);
  void (*adagrad)(float* param, const float* grad, float* sum, int64_t n, const AdagradConfig& cfg);
};

extern const AdaptiveKernels adaptive_kernels_scalar;
extern const AdaptiveKernels adaptive_kernels_avx2;
extern const AdaptiveKernels adaptive_kernels_avx512;

// The configs for one step, from the hyper-parameters as the user gave them (doubles) and
// the step number (>= 1, counted per parameter): what PyTorch computes on the host in
// double, rounded to float where PyTorch hands the value to a float kernel.
AdamConfig adam_config(double lr, double beta1, double beta2, double eps, double weight_decay, bool amsgrad,
                       bool decoupled_weight_decay, bool maximize, int64_t step);
RmspropConfig rmsprop_config(double lr, double alpha, double eps, double weight_decay, double momentum,
                             bool centered, bool maximize);
AdagradConfig adagrad_config(double lr, double lr_decay, double eps, double weight_decay, bool maximize,
                             int64_t step);

// Threaded entry points (the range is split into contiguous pieces, one per thread).
void adam_update(float* param, const float* grad, float* exp_avg, float* exp_avg_sq, float* max_exp_avg_sq,
                 int64_t n, const AdamConfig& cfg);
void rmsprop_update(float* param, const float* grad, float* square_avg, float* grad_avg, float* momentum_buffer,
                    int64_t n, const RmspropConfig& cfg);
void adagrad_update(float* param, const float* grad, float* sum, int64_t n, const AdagradConfig& cfg);

}  // namespace cnnnative
