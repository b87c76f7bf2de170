// Elementwise losses over arrays of the same shape: mean squared error and binary
// cross-entropy with logits. Each element is independent: the kernels (one body,
// loss/pointwise_body.inl, compiled per ISA) stream over a range, and the drivers
// (loss/pointwise.cc) share fixed chunks out across threads.
//
//   mse:     loss = (x - y)^2                       d/dx = 2 (x - y)
//   bce:     sp   = log(1 + exp(-x)) = log1p(exp(-|x|)) + max(-x, 0)   (never overflows)
//            L    = 1 + (pos_weight - 1) y
//            loss = w ((1 - y) x + L sp)            d/dx = w (L sigmoid(x) - pos_weight y)
//
// Sums are accumulated in double over fixed chunks, so the result does not depend on
// the number of threads.
#pragma once
#include <cstdint>

namespace cnnnative {

// Kernels over elements [0, n) of the arrays given (the driver offsets the pointers).
// weight / pos_weight / grad may be null (1 everywhere).
struct PointwiseLossKernels {
  double (*mse_sum)(const float* x, const float* y, int64_t n);
  void (*mse_elements)(const float* x, const float* y, int64_t n, float* out);
  void (*mse_backward)(const float* x, const float* y, int64_t n, const float* grad, float scale, float* gx);
  double (*bce_sum)(const float* x, const float* y, const float* weight, const float* pos_weight, int64_t n);
  void (*bce_elements)(const float* x, const float* y, const float* weight, const float* pos_weight, int64_t n,
                       float* out);
  void (*bce_backward)(const float* x, const float* y, const float* weight, const float* pos_weight, int64_t n,
                       const float* grad, float scale, float* gx);
};

extern const PointwiseLossKernels pointwise_loss_kernels_scalar;
extern const PointwiseLossKernels pointwise_loss_kernels_avx2;
extern const PointwiseLossKernels pointwise_loss_kernels_avx512;

// Threaded entry points.
// out[i] = (x[i] - y[i])^2, or (when out is null) the double sum of those.
double mse_loss_forward(const float* x, const float* y, int64_t n, float* out);
// gx[i] = 2 (x[i] - y[i]) * scale * (grad ? grad[i] : 1).
void mse_loss_backward(const float* x, const float* y, int64_t n, const float* grad, float scale, float* gx);

// weight / pos_weight: n floats each, or null (1 everywhere). out null: the double sum.
double bce_with_logits_forward(const float* x, const float* y, const float* weight, const float* pos_weight,
                               int64_t n, float* out);
void bce_with_logits_backward(const float* x, const float* y, const float* weight, const float* pos_weight,
                              int64_t n, const float* grad, float scale, float* gx);

}  // namespace cnnnative
