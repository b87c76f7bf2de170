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
// The modern activations follow torch.nn.functional's formulas term for term, so that
// infinities give what PyTorch gives (silu(-inf) is NaN there too) and NaN stays NaN.
void silu(const float* x, float* y, int64_t n, float) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] / (1.0f + vm::exp(-x[i]));
}
// x * Phi(x), with Phi(x) = erfc(-x / sqrt 2) / 2 (accurate in the negative tail).
void gelu(const float* x, float* y, int64_t n, float) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) y[i] = 0.5f * x[i] * vm::erfc(-x[i] * 0.70710678f);
}
// GELU's tanh form: x/2 * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x^3))).
constexpr float kGeluBeta = 0.7978845608f, kGeluKappa = 0.044715f;
void gelu_tanh(const float* x, float* y, int64_t n, float) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    const float inner = kGeluBeta * (x[i] + kGeluKappa * x[i] * x[i] * x[i]);
    y[i] = 0.5f * x[i] * (1.0f + vm::tanh(inner));
  }
}
// relu6(x + 3) / 6, written so that NaN passes (both comparisons are false for NaN).
static inline float hard_gate(float x) {
  float t = x + 3.0f;
  t = t < 0.0f ? 0.0f : t;
  return (t > 6.0f ? 6.0f : t) / 6.0f;
}
void hardswish(const float* x, float* y, int64_t n, float) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    float t = x[i] + 3.0f;
    t = t < 0.0f ? 0.0f : t;
    t = t > 6.0f ? 6.0f : t;
    y[i] = x[i] * t / 6.0f;  // multiply first, then divide, as PyTorch
  }
}
void hardsigmoid(const float* x, float* y, int64_t n, float) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) y[i] = hard_gate(x[i]);
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

// Gradients of the modern activations, from the forward's input.
void silu_backward(const float* g, const float* x, float* gx, int64_t n, float) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    const float s = 1.0f / (1.0f + vm::exp(-x[i]));
    gx[i] = g[i] * s * (1.0f + x[i] * (1.0f - s));
  }
}
// Phi(x) + x * phi(x), phi the standard normal density.
void gelu_backward(const float* g, const float* x, float* gx, int64_t n, float) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    const float cdf = 0.5f * vm::erfc(-x[i] * 0.70710678f);
    const float pdf = 0.39894228f * vm::exp(-0.5f * x[i] * x[i]);
    gx[i] = g[i] * (cdf + x[i] * pdf);
  }
}
void gelu_tanh_backward(const float* g, const float* x, float* gx, int64_t n, float) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    const float x2 = x[i] * x[i];
    const float t = vm::tanh(kGeluBeta * (x[i] + kGeluKappa * x2 * x[i]));
    const float left = 0.5f * x[i];
    const float inner_derivative = kGeluBeta * (1.0f + 3.0f * kGeluKappa * x2);
    gx[i] = g[i] * (0.5f * (1.0f + t) + left * (1.0f - t * t) * inner_derivative);
  }
}
// PyTorch's choice at the kinks: 0 at x <= -3, grad at x >= 3, NaN input gives NaN.
void hardswish_backward(const float* g, const float* x, float* gx, int64_t n, float) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    const float mid = g[i] * (x[i] / 3.0f + 0.5f);
    gx[i] = x[i] <= -3.0f ? 0.0f : (x[i] >= 3.0f ? g[i] : mid);
  }
}
// grad / 6 strictly inside (-3, 3); 0 at the kinks, outside, and for NaN (as PyTorch).
void hardsigmoid_backward(const float* g, const float* x, float* gx, int64_t n, float) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) gx[i] = (x[i] > -3.0f && x[i] < 3.0f) ? g[i] * (1.0f / 6.0f) : 0.0f;
}

}  // namespace

// Order must follow UnaryOp / BinaryOp.
extern const ElementwiseKernels CNNNATIVE_TABLE = {
    {relu, relu6, leaky_relu, sigmoid, tanh_, silu, gelu, gelu_tanh, hardswish, hardsigmoid},
    {add, add_relu, relu_backward, relu6_backward, leaky_relu_backward, sigmoid_backward,
     tanh_backward, silu_backward, gelu_backward, gelu_tanh_backward, hardswish_backward,
     hardsigmoid_backward},
};

}  // namespace cnnnative
