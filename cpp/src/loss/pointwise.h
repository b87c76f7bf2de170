// Elementwise losses over arrays of the same shape: mean squared error and binary
// cross-entropy with logits. Each element is independent, so these are memory-bound
// streams; one source file compiled for the baseline ISA is enough (the compiler
// vectorises the MSE loops; BCE's log1p/exp calls dominate anyway).
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
