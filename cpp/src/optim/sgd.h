// The fused SGD update and the small in-place helpers an optimizer needs.
//
// One pass per parameter does PyTorch's whole SGD step (torch.optim.SGD, single-tensor
// path), element by element:
//   d = grad + weight_decay * param                 (when weight_decay != 0)
//   buf = d                                         (first step)
//   buf = momentum * buf + (1 - dampening) * d      (later steps; when momentum != 0)
//   d = nesterov ? d + momentum * buf : buf         (when momentum != 0)
//   param -= lr * d
#pragma once
#include <cstdint>

namespace cnnnative {

struct SgdConfig {
  float lr = 0.0f, momentum = 0.0f, dampening = 0.0f, weight_decay = 0.0f;
  bool nesterov = false;
  bool first_step = false;  // the momentum buffer is filled with d instead of updated
};

struct OptimKernels {
  // buf may be null when momentum == 0.
  void (*sgd)(float* param, const float* grad, float* buf, int64_t n, const SgdConfig& cfg);
  double (*sum_of_squares)(const float* x, int64_t n);  // float64 accumulation
  void (*scale)(float* x, int64_t n, float s);
};

extern const OptimKernels optim_kernels_scalar;
extern const OptimKernels optim_kernels_avx2;
extern const OptimKernels optim_kernels_avx512;

// Threaded entry points.
void sgd_update(float* param, const float* grad, float* buf, int64_t n, const SgdConfig& cfg);
double sum_of_squares(const float* x, int64_t n);  // same result for the same thread count
void scale_inplace(float* x, int64_t n, float s);

}  // namespace cnnnative
