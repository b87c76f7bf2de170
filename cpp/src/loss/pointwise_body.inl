// Elementwise loss kernels, written once and compiled per ISA (see loss/pointwise.h).
// The including file defines CNNNATIVE_TABLE and carries the ISA's flags.
#include <cmath>

#include "act/vmath.h"
#include "loss/pointwise.h"

namespace cnnnative {
namespace {

// log(1 + u) for u in [0, 1], as 2 atanh(s) = 2 (s + s^3/3 + ... + s^13/13) with
// s = u / (2 + u) in [0, 1/3]: the next term is below 1e-8 relative, there is no
// cancellation for small u, and, unlike std::log1p, it vectorises.
inline float log1p_unit(float u) {
  const float s = u / (2.0f + u);
  const float s2 = s * s;
  float p = 1.0f / 13.0f;
  p = p * s2 + 1.0f / 11.0f;
  p = p * s2 + 1.0f / 9.0f;
  p = p * s2 + 1.0f / 7.0f;
  p = p * s2 + 1.0f / 5.0f;
  p = p * s2 + 1.0f / 3.0f;
  p = p * s2 + 1.0f;
  return 2.0f * s * p;
}

// log(1 + exp(-x)) without overflow for any x (NaN stays NaN: fmax would drop it).
inline float softplus_neg(float x) {
  const float tail = log1p_unit(vm::exp(-std::fabs(x)));
  return -x > 0.0f ? tail - x : tail;
}

// 1 / (1 + exp(-x)), from exp of a non-positive argument only.
inline float sigmoid(float x) {
  const float e = vm::exp(-std::fabs(x));
  return x >= 0.0f ? 1.0f / (1.0f + e) : e / (1.0f + e);
}

inline float bce_element(float x, float y, float w, float pw) {
  return w * ((1.0f - y) * x + (1.0f + (pw - 1.0f) * y) * softplus_neg(x));
}

double mse_sum(const float* x, const float* y, int64_t n) {
  double s = 0.0;
#pragma omp simd reduction(+ : s)
  for (int64_t i = 0; i < n; ++i) {
    const float d = x[i] - y[i];
    s += static_cast<double>(d * d);
  }
  return s;
}

void mse_elements(const float* x, const float* y, int64_t n, float* out) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) out[i] = (x[i] - y[i]) * (x[i] - y[i]);
}

void mse_backward(const float* x, const float* y, int64_t n, const float* grad, float scale, float* gx) {
  const float k = 2.0f * scale;
  if (grad) {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) gx[i] = (x[i] - y[i]) * (k * grad[i]);
  } else {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) gx[i] = (x[i] - y[i]) * k;
  }
}

double bce_sum(const float* x, const float* y, const float* weight, const float* pos_weight, int64_t n) {
  double s = 0.0;
#pragma omp simd reduction(+ : s)
  for (int64_t i = 0; i < n; ++i)
    s += static_cast<double>(bce_element(x[i], y[i], weight ? weight[i] : 1.0f, pos_weight ? pos_weight[i] : 1.0f));
  return s;
}

void bce_elements(const float* x, const float* y, const float* weight, const float* pos_weight, int64_t n,
                  float* out) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i)
    out[i] = bce_element(x[i], y[i], weight ? weight[i] : 1.0f, pos_weight ? pos_weight[i] : 1.0f);
}

// d/dx = w (L sigmoid(x) - pos_weight y), L = 1 + (pos_weight - 1) y.
void bce_backward(const float* x, const float* y, const float* weight, const float* pos_weight, int64_t n,
                  const float* grad, float scale, float* gx) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    const float pw = pos_weight ? pos_weight[i] : 1.0f;
    const float L = 1.0f + (pw - 1.0f) * y[i];
    const float k = scale * (grad ? grad[i] : 1.0f) * (weight ? weight[i] : 1.0f);
    gx[i] = (L * sigmoid(x[i]) - pw * y[i]) * k;
  }
}

}  // namespace

extern const PointwiseLossKernels CNNNATIVE_TABLE = {mse_sum, mse_elements, mse_backward,
                                                     bce_sum, bce_elements, bce_backward};

}  // namespace cnnnative
