// Optimizer kernels, written once and compiled per ISA (see optim/sgd.h). The including
// file defines CNNNATIVE_TABLE and carries the ISA's flags. The SGD options become template
// parameters so each combination is one branch-free loop the compiler vectorises.
#include "optim/sgd.h"

namespace cnnnative {
namespace {

template <bool kDecay, bool kMomentum, bool kFirst, bool kNesterov>
void sgd_loop(float* p, const float* g, float* buf, int64_t n,
              const SgdConfig& c) {
  const float lr = c.lr, wd = c.weight_decay, mom = c.momentum, keep = 1.0f - c.dampening;
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    float d = g[i];
    if (kDecay) d = d + wd * p[i];
    if (kMomentum) {
      float b;
      if (kFirst) {
        b = d;
      } else {
        b = buf[i] * mom;
        b = b + keep * d;
      }
      buf[i] = b;
      d = kNesterov ? d + mom * b : b;
    }
    p[i] = p[i] - lr * d;
  }
}

template <bool kDecay, bool kMomentum, bool kFirst>
void sgd_3(float* p, const float* g, float* buf, int64_t n, const SgdConfig& c) {
  if (c.nesterov)
    sgd_loop<kDecay, kMomentum, kFirst, true>(p, g, buf, n, c);
  else
    sgd_loop<kDecay, kMomentum, kFirst, false>(p, g, buf, n, c);
}
template <bool kDecay, bool kMomentum>
void sgd_2(float* p, const float* g, float* buf, int64_t n, const SgdConfig& c) {
  if (c.first_step)
    sgd_3<kDecay, kMomentum, true>(p, g, buf, n, c);
  else
    sgd_3<kDecay, kMomentum, false>(p, g, buf, n, c);
}
template <bool kDecay>
void sgd_1(float* p, const float* g, float* buf, int64_t n, const SgdConfig& c) {
  if (c.momentum != 0.0f)
    sgd_2<kDecay, true>(p, g, buf, n, c);
  else
    sgd_loop<kDecay, false, false, false>(p, g, buf, n, c);
}
void sgd(float* p, const float* g, float* buf, int64_t n, const SgdConfig& c) {
  if (c.weight_decay != 0.0f)
    sgd_1<true>(p, g, buf, n, c);
  else
    sgd_1<false>(p, g, buf, n, c);
}

double sum_squares_range(const float* x, int64_t n) {
  double s = 0.0;
#pragma omp simd reduction(+ : s)
  for (int64_t i = 0; i < n; ++i) {
    const double v = x[i];
    s += v * v;
  }
  return s;
}

void scale_range(float* x, int64_t n, float s) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) x[i] *= s;
}

}  // namespace

extern const OptimKernels CNNNATIVE_TABLE = {sgd, sum_squares_range, scale_range};

}  // namespace cnnnative
