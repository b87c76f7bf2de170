// The elementwise kernels, written once and compiled per ISA: the including file defines
// CNNNATIVE_TABLE (the table's name) and is built with that ISA's flags; the loops are
// plain `omp simd` loops the compiler vectorises for it. Everything but the table has
// internal linkage, so the copies built for different ISAs never mix.
#include "act/elementwise.h"
#include "act/vmath.h"

namespace cnnnative {
namespace {

// NaN passes through every activation (x < 0 is false for NaN), as in PyTorch.
void relu(const float* x, float* y, int64_t n, float) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] < 0.0f ? 0.0f : x[i];
}
void relu6(const float* x, float* y, int64_t n, float) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    const float t = x[i] < 0.0f ? 0.0f : x[i];
    y[i] = t > 6.0f ? 6.0f : t;
  }
}
void leaky_relu(const float* x, float* y, int64_t n, float slope) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] > 0.0f ? x[i] : x[i] * slope;
}
void sigmoid(const float* x, float* y, int64_t n, float) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) y[i] = vm::sigmoid(x[i]);
}
void tanh_(const float* x, float* y, int64_t n, float) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) y[i] = vm::tanh(x[i]);
}

void add(const float* a, const float* b, float* y, int64_t n, float) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) y[i] = a[i] + b[i];
}
void add_relu(const float* a, const float* b, float* y, int64_t n, float) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    const float s = a[i] + b[i];
    y[i] = s < 0.0f ? 0.0f : s;
  }
}
// Gradients from the saved output: relu passes where out > 0; relu6 where 0 < out < 6.
void relu_backward(const float* g, const float* out, float* gx, int64_t n, float) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) gx[i] = out[i] > 0.0f ? g[i] : 0.0f;
}
void relu6_backward(const float* g, const float* out, float* gx, int64_t n, float) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) gx[i] = (out[i] > 0.0f && out[i] < 6.0f) ? g[i] : 0.0f;
}
void leaky_relu_backward(const float* g, const float* in, float* gx, int64_t n, float slope) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) gx[i] = in[i] > 0.0f ? g[i] : g[i] * slope;
}
void sigmoid_backward(const float* g, const float* out, float* gx, int64_t n, float) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) gx[i] = g[i] * (1.0f - out[i]) * out[i];
}
void tanh_backward(const float* g, const float* out, float* gx, int64_t n, float) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) gx[i] = g[i] * (1.0f - out[i] * out[i]);
}

}  // namespace

// Order must follow UnaryOp / BinaryOp.
extern const ElementwiseKernels CNNNATIVE_TABLE = {
    {relu, relu6, leaky_relu, sigmoid, tanh_},
    {add, add_relu, relu_backward, relu6_backward, leaky_relu_backward, sigmoid_backward,
     tanh_backward},
};

}  // namespace cnnnative
