// Adaptive optimizer kernels, written once and compiled per ISA (see optim/adaptive.h).
// The including file defines CNNNATIVE_TABLE and carries the ISA's flags. Options that
// change which arrays exist (weight decay, amsgrad, centered, momentum) and the form of
// PyTorch's lerp are template parameters, so each combination is one branch-free loop the
// compiler vectorises (a per-element select on a run-time flag kept GCC's LTO from
// vectorising the centered + momentum RMSprop loop); everything else is a per-call scalar.
#include "optim/adaptive.h"

#include <cmath>

// PyTorch's AVX2 kernels fuse the multiply-adds of lerp, add(alpha=) and addcmul (measured
// against torch 2.13); products it divides, scales or adds later are rounded first. Keep the
// compiler from contracting on its own, and fuse exactly where PyTorch does. (PyTorch's sqrt
// goes through MKL and is not always correctly rounded; ours is, so results may still
// differ in the last bit.)
#pragma GCC optimize("fp-contract=off")

namespace cnnnative {
namespace {

// a * b + c, rounded once when the ISA has FMA (as PyTorch's vectorized kernels do).
inline float madd(float a, float b, float c) {
#ifdef __FMA__
  return std::fma(a, b, c);
#else
  return a * b + c;
#endif
}

// torch.maximum: NaN when either side is NaN.
inline float nan_maximum(float a, float b) { return (a != a || a > b) ? a : b; }

template <bool kDecay, bool kAmsgrad, bool kFromEnd>
void adam_loop(float* p, const float* grad, float* m, float* v, float* vmax, int64_t n, const AdamConfig& c) {
  const float sign = c.grad_sign, keep = c.decay_factor, wd = c.weight_decay;
  const float w1 = c.first.coeff, beta2 = c.beta2, omb2 = c.one_minus_beta2;
  const float neg_step = c.neg_step_size, bc2 = c.bias_correction2_sqrt, eps = c.eps;
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    float g = grad[i] * sign;
    float x = p[i] * keep;
    if (kDecay) g = madd(wd, x, g);
    const float mi = m[i];
    const float mo = madd(w1, g - mi, kFromEnd ? g : mi);
    m[i] = mo;
    float vi = v[i] * beta2;
    vi = madd(omb2 * g, g, vi);
    v[i] = vi;
    if (kAmsgrad) {
      vi = nan_maximum(vmax[i], vi);
      vmax[i] = vi;
    }
    const float denom = std::sqrt(vi) / bc2 + eps;
    p[i] = x + (neg_step * mo) / denom;
  }
}

template <bool kDecay, bool kAmsgrad>
void adam_2(float* p, const float* g, float* m, float* v, float* vmax, int64_t n, const AdamConfig& c) {
  if (c.first.from_end)
    adam_loop<kDecay, kAmsgrad, true>(p, g, m, v, vmax, n, c);
  else
    adam_loop<kDecay, kAmsgrad, false>(p, g, m, v, vmax, n, c);
}
template <bool kDecay>
void adam_1(float* p, const float* g, float* m, float* v, float* vmax, int64_t n, const AdamConfig& c) {
  if (c.amsgrad)
    adam_2<kDecay, true>(p, g, m, v, vmax, n, c);
  else
    adam_2<kDecay, false>(p, g, m, v, vmax, n, c);
}
void adam(float* p, const float* g, float* m, float* v, float* vmax, int64_t n, const AdamConfig& c) {
  if (c.weight_decay != 0.0f)
    adam_1<true>(p, g, m, v, vmax, n, c);
  else
    adam_1<false>(p, g, m, v, vmax, n, c);
}

template <bool kDecay, bool kCentered, bool kMomentum, bool kFromEnd>
void rmsprop_loop(float* p, const float* grad, float* s, float* a, float* b, int64_t n, const RmspropConfig& c) {
  const float sign = c.grad_sign, wd = c.weight_decay, alpha = c.alpha, oma = c.one_minus_alpha;
  const float wa = c.average.coeff, eps = c.eps, mom = c.momentum, neg_lr = c.neg_lr;
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    float g = grad[i] * sign;
    const float x = p[i];
    if (kDecay) g = madd(wd, x, g);
    float si = s[i] * alpha;
    si = madd(oma * g, g, si);
    s[i] = si;
    float avg;
    if (kCentered) {
      const float ai = a[i];
      const float ao = madd(wa, g - ai, kFromEnd ? g : ai);
      a[i] = ao;
      avg = std::sqrt(madd(-1.0f * ao, ao, si));
    } else {
      avg = std::sqrt(si);
    }
    avg = avg + eps;
    if (kMomentum) {
      float bi = b[i] * mom;
      bi = bi + g / avg;
      b[i] = bi;
      p[i] = madd(neg_lr, bi, x);
    } else {
      p[i] = x + (neg_lr * g) / avg;
    }
  }
}

template <bool kDecay, bool kCentered, bool kMomentum>
void rmsprop_3(float* p, const float* g, float* s, float* a, float* b, int64_t n, const RmspropConfig& c) {
  if (kCentered && c.average.from_end)
    rmsprop_loop<kDecay, kCentered, kMomentum, true>(p, g, s, a, b, n, c);
  else
    rmsprop_loop<kDecay, kCentered, kMomentum, false>(p, g, s, a, b, n, c);
}
template <bool kDecay, bool kCentered>
void rmsprop_2(float* p, const float* g, float* s, float* a, float* b, int64_t n, const RmspropConfig& c) {
  if (c.momentum > 0.0f)
    rmsprop_3<kDecay, kCentered, true>(p, g, s, a, b, n, c);
  else
    rmsprop_3<kDecay, kCentered, false>(p, g, s, a, b, n, c);
}
template <bool kDecay>
void rmsprop_1(float* p, const float* g, float* s, float* a, float* b, int64_t n, const RmspropConfig& c) {
  if (c.centered)
    rmsprop_2<kDecay, true>(p, g, s, a, b, n, c);
  else
    rmsprop_2<kDecay, false>(p, g, s, a, b, n, c);
}
void rmsprop(float* p, const float* g, float* s, float* a, float* b, int64_t n, const RmspropConfig& c) {
  if (c.weight_decay != 0.0f)
    rmsprop_1<true>(p, g, s, a, b, n, c);
  else
    rmsprop_1<false>(p, g, s, a, b, n, c);
}

template <bool kDecay>
void adagrad_loop(float* p, const float* grad, float* s, int64_t n, const AdagradConfig& c) {
  const float sign = c.grad_sign, wd = c.weight_decay, neg_clr = c.neg_clr, eps = c.eps;
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    float g = grad[i] * sign;
    const float x = p[i];
    if (kDecay) g = madd(wd, x, g);
    const float si = madd(g, g, s[i]);
    s[i] = si;
    p[i] = x + (neg_clr * g) / (std::sqrt(si) + eps);
  }
}
void adagrad(float* p, const float* g, float* s, int64_t n, const AdagradConfig& c) {
  if (c.weight_decay != 0.0f)
    adagrad_loop<true>(p, g, s, n, c);
  else
    adagrad_loop<false>(p, g, s, n, c);
}

}  // namespace

extern const AdaptiveKernels CNNNATIVE_TABLE = {adam, rmsprop, adagrad};

}  // namespace cnnnative
