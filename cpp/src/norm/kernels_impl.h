// The span kernels of kernels.h, written once over a small vector type `S` and
// compiled per ISA: norm_kernels__<isa>.cc defines S (width S::W, load/store/arithmetic)
// and includes this file.
//
// Everything here has internal linkage (anonymous namespace) and uses no standard
// library templates: each ISA's copy is compiled with its own flags, so nothing from
// an AVX-512 translation unit may be shared with (and run by) the scalar path.
//
// Vector loops cover the first n - n % W elements; a scalar loop finishes the tail
// with the same formula, so no element is left unwritten and no kernel relies on the
// output's previous contents.
#pragma once
#include <cstdint>

#include "norm/kernels.h"
#include "norm/merge.h"

namespace cnnnative {
namespace norm {
namespace {

inline int64_t min_i64(int64_t a, int64_t b) { return a < b ? a : b; }

// Runs `vec_step(i, acc)` over the vector part of [0, n) and `scalar_step(i, acc)`
// over the tail, each adding its terms into K accumulators, and returns the K sums.
// Float lanes accumulate at most kSumBlock elements; block totals go into double.
template <class S, int K, class VecStep, class ScalarStep>
inline void blocked_sums(int64_t n, VecStep vec_step, ScalarStep scalar_step, double* out) {
  using V = typename S::V;
  for (int k = 0; k < K; ++k) out[k] = 0.0;
  const int64_t vec_end = n - n % S::W;
  int64_t i = 0;
  while (i < vec_end) {
    const int64_t block_end = min_i64(vec_end, i + kSumBlock);
    V a[K], b[K];  // two accumulator sets hide the latency of the adds
    for (int k = 0; k < K; ++k) a[k] = b[k] = S::zero();
    for (; i + 2 * S::W <= block_end; i += 2 * S::W) {
      vec_step(i, a);
      vec_step(i + S::W, b);
    }
    if (i < block_end) {
      vec_step(i, a);
      i += S::W;
    }
    for (int k = 0; k < K; ++k) out[k] += static_cast<double>(S::hsum(S::add(a[k], b[k])));
  }
  float tail[K];
  for (int k = 0; k < K; ++k) tail[k] = 0.0f;
  for (; i < n; ++i) scalar_step(i, tail);
  for (int k = 0; k < K; ++k) out[k] += static_cast<double>(tail[k]);
}

template <class S>
double sum(const float* x, int64_t n) {
  double out[1];
  blocked_sums<S, 1>(
      n, [&](int64_t i, typename S::V* acc) { acc[0] = S::add(acc[0], S::load(x + i)); },
      [&](int64_t i, float* acc) { acc[0] += x[i]; }, out);
  return out[0];
}

template <class S>
Sums dev_sums(const float* x, int64_t n, float mu) {
  const auto vmu = S::set1(mu);
  double out[2];
  blocked_sums<S, 2>(
      n,
      [&](int64_t i, typename S::V* acc) {
        const auto d = S::sub(S::load(x + i), vmu);
        acc[0] = S::add(acc[0], d);
        acc[1] = S::fmadd(d, d, acc[1]);
      },
      [&](int64_t i, float* acc) {
        const float d = x[i] - mu;
        acc[0] += d;
        acc[1] += d * d;
      },
      out);
  return {out[0], out[1]};
}

template <class S>
Sums mean_m2(const float* x, int64_t n) {
  double count = 0.0, mean = 0.0, m2 = 0.0;
  for (int64_t start = 0; start < n; start += kSumBlock) {
    const int64_t len = min_i64(kSumBlock, n - start);
    const float* block = x + start;
    const float mu = static_cast<float>(sum<S>(block, len) / len);
    const Sums d = dev_sums<S>(block, len, mu);  // the block is still in L1
    // d.first / len is the part of the block's mean lost when mu was rounded to float.
    const double m2_block = d.second - d.first * d.first / len;
    merge_mean_m2(count, mean, m2, static_cast<double>(len), mu + d.first / len,
                  m2_block < 0.0 ? 0.0 : m2_block);  // rounding can go below 0; NaN stays NaN
  }
  return {mean, m2};
}

template <class S>
void scale_shift(const float* x, float* y, int64_t n, float mu, float scale, float shift) {
  const auto vmu = S::set1(mu), vscale = S::set1(scale), vshift = S::set1(shift);
  int64_t i = 0;
  for (; i + S::W <= n; i += S::W)
    S::store(y + i, S::fmadd(S::sub(S::load(x + i), vmu), vscale, vshift));
  for (; i < n; ++i) y[i] = (x[i] - mu) * scale + shift;
}

// Four variants (weight and/or bias present) so the inner loop carries no branches.
template <class S, bool kWeight, bool kBias>
void normalize_affine_t(const float* x, float* y, int64_t n, float mu, float rstd, const float* w,
                        const float* b) {
  const auto vmu = S::set1(mu), vrstd = S::set1(rstd);
  int64_t i = 0;
  for (; i + S::W <= n; i += S::W) {
    auto v = S::mul(S::sub(S::load(x + i), vmu), vrstd);
    if (kWeight) v = S::mul(v, S::load(w + i));
    if (kBias) v = S::add(v, S::load(b + i));
    S::store(y + i, v);
  }
  for (; i < n; ++i) {
    float v = (x[i] - mu) * rstd;
    if (kWeight) v *= w[i];
    if (kBias) v += b[i];
    y[i] = v;
  }
}

template <class S>
void normalize_affine(const float* x, float* y, int64_t n, float mu, float rstd, const float* w,
                      const float* b) {
  if (w && b) return normalize_affine_t<S, true, true>(x, y, n, mu, rstd, w, b);
  if (w) return normalize_affine_t<S, true, false>(x, y, n, mu, rstd, w, b);
  if (b) return normalize_affine_t<S, false, true>(x, y, n, mu, rstd, w, b);
  normalize_affine_t<S, false, false>(x, y, n, mu, rstd, w, b);
}

template <class S, bool kWeight>
Sums grad_sums_t(const float* dy, const float* x, const float* w, int64_t n, float mu) {
  const auto vmu = S::set1(mu);
  double out[2];
  blocked_sums<S, 2>(
      n,
      [&](int64_t i, typename S::V* acc) {
        auto g = S::load(dy + i);
        if (kWeight) g = S::mul(g, S::load(w + i));
        acc[0] = S::add(acc[0], g);
        acc[1] = S::fmadd(g, S::sub(S::load(x + i), vmu), acc[1]);
      },
      [&](int64_t i, float* acc) {
        const float g = kWeight ? dy[i] * w[i] : dy[i];
        acc[0] += g;
        acc[1] += g * (x[i] - mu);
      },
      out);
  return {out[0], out[1]};
}

template <class S>
Sums grad_sums(const float* dy, const float* x, const float* w, int64_t n, float mu) {
  return w ? grad_sums_t<S, true>(dy, x, w, n, mu) : grad_sums_t<S, false>(dy, x, w, n, mu);
}

template <class S, bool kWeight>
void grad_input_t(const float* dy, const float* x, const float* w, float* dx, int64_t n, float a,
                  float b, float mu, float c) {
  const auto va = S::set1(a), vb = S::set1(b), vmu = S::set1(mu), vc = S::set1(c);
  int64_t i = 0;
  for (; i + S::W <= n; i += S::W) {
    auto g = S::load(dy + i);
    if (kWeight) g = S::mul(g, S::load(w + i));
    S::store(dx + i, S::fmadd(va, g, S::fmadd(vb, S::sub(S::load(x + i), vmu), vc)));
  }
  for (; i < n; ++i) {
    const float g = kWeight ? dy[i] * w[i] : dy[i];
    dx[i] = a * g + (b * (x[i] - mu) + c);
  }
}

template <class S>
void grad_input(const float* dy, const float* x, const float* w, float* dx, int64_t n, float a,
                float b, float mu, float c) {
  if (w) return grad_input_t<S, true>(dy, x, w, dx, n, a, b, mu, c);
  grad_input_t<S, false>(dy, x, w, dx, n, a, b, mu, c);
}

template <class S>
void accumulate_affine_grads(const float* dy, const float* x, int64_t n, float mu, float rstd,
                             float* dw, float* db) {
  const auto vmu = S::set1(mu), vrstd = S::set1(rstd);
  int64_t i = 0;
  for (; i + S::W <= n; i += S::W) {
    const auto g = S::load(dy + i);
    const auto xhat = S::mul(S::sub(S::load(x + i), vmu), vrstd);
    S::store(dw + i, S::fmadd(g, xhat, S::load(dw + i)));
    S::store(db + i, S::add(g, S::load(db + i)));
  }
  for (; i < n; ++i) {
    dw[i] += dy[i] * ((x[i] - mu) * rstd);
    db[i] += dy[i];
  }
}

// ---- column forms (batch norm with a small spatial size) ------------------------------

template <class S>
void cols_dev_sums(const float* x, const float* mu, int64_t n, float* acc1, float* acc2) {
  int64_t i = 0;
  for (; i + S::W <= n; i += S::W) {
    const auto d = S::sub(S::load(x + i), S::load(mu + i));
    S::store(acc1 + i, S::add(S::load(acc1 + i), d));
    S::store(acc2 + i, S::fmadd(d, d, S::load(acc2 + i)));
  }
  for (; i < n; ++i) {
    const float d = x[i] - mu[i];
    acc1[i] += d;
    acc2[i] += d * d;
  }
}

template <class S>
void cols_grad_sums(const float* dy, const float* x, const float* mu, int64_t n, float* acc1,
                    float* acc2) {
  int64_t i = 0;
  for (; i + S::W <= n; i += S::W) {
    const auto g = S::load(dy + i);
    S::store(acc1 + i, S::add(S::load(acc1 + i), g));
    S::store(acc2 + i, S::fmadd(g, S::sub(S::load(x + i), S::load(mu + i)), S::load(acc2 + i)));
  }
  for (; i < n; ++i) {
    acc1[i] += dy[i];
    acc2[i] += dy[i] * (x[i] - mu[i]);
  }
}

template <class S>
void cols_scale_shift(const float* x, float* y, int64_t n, const float* mu, const float* scale,
                      const float* shift) {
  int64_t i = 0;
  for (; i + S::W <= n; i += S::W)
    S::store(y + i, S::fmadd(S::sub(S::load(x + i), S::load(mu + i)), S::load(scale + i),
                             S::load(shift + i)));
  for (; i < n; ++i) y[i] = (x[i] - mu[i]) * scale[i] + shift[i];
}

template <class S>
void cols_grad_input(const float* dy, const float* x, float* dx, int64_t n, const float* mu,
                     const float* a, const float* b, const float* c) {
  int64_t i = 0;
  for (; i + S::W <= n; i += S::W) {
    const auto xmu = S::sub(S::load(x + i), S::load(mu + i));
    S::store(dx + i, S::fmadd(S::load(a + i), S::load(dy + i),
                              S::fmadd(S::load(b + i), xmu, S::load(c + i))));
  }
  for (; i < n; ++i) dx[i] = a[i] * dy[i] + (b[i] * (x[i] - mu[i]) + c[i]);
}

// ---- local response norm -------------------------------------------------------------
//
// Channel c is divided by d_c^beta with d_c = k + alpha/size * sum of x^2 over the
// channels [c - size/2, c + (size-1)/2] (zero outside [0, C)), as PyTorch. The window
// sum is recomputed per channel (O(size) per element): a running add/subtract sum
// would be cheaper for wide windows but drifts in float.

// out[0..len) = (k + alpha_over_size * sum over the window of x^2) for channel c.
template <class S>
void lrn_window(const float* x, int64_t channels, int64_t stride, int64_t len, int64_t size,
                int64_t c, float k, float alpha_over_size, float* out) {
  const int64_t first = c - size / 2 < 0 ? 0 : c - size / 2;
  const int64_t last = min_i64(channels - 1, c + (size - 1) / 2);
  const auto vk = S::set1(k), va = S::set1(alpha_over_size);
  int64_t i = 0;
  for (; i + S::W <= len; i += S::W) {
    auto acc = S::zero();
    for (int64_t j = first; j <= last; ++j) {
      const auto v = S::load(x + j * stride + i);
      acc = S::fmadd(v, v, acc);
    }
    S::store(out + i, S::fmadd(va, acc, vk));
  }
  for (; i < len; ++i) {
    float acc = 0.0f;
    for (int64_t j = first; j <= last; ++j) acc += x[j * stride + i] * x[j * stride + i];
    out[i] = k + alpha_over_size * acc;
  }
}

// log2(d) for positive normal d: d = 2^e * m with m in [1, 2), and
// ln(m) = 2 atanh(t) = 2 (t + t^3/3 + t^5/5 + ...), t = (m - 1)/(m + 1) in [0, 1/3);
// seven terms leave a truncation error below 1e-8.
template <class S>
typename S::V log2_positive(typename S::V d) {
  typename S::V e, m;
  S::exponent_mantissa(d, e, m);
  const auto t = S::div(S::sub(m, S::set1(1.0f)), S::add(m, S::set1(1.0f)));
  const auto t2 = S::mul(t, t);
  auto p = S::set1(1.0f / 13.0f);
  p = S::fmadd(p, t2, S::set1(1.0f / 11.0f));
  p = S::fmadd(p, t2, S::set1(1.0f / 9.0f));
  p = S::fmadd(p, t2, S::set1(1.0f / 7.0f));
  p = S::fmadd(p, t2, S::set1(1.0f / 5.0f));
  p = S::fmadd(p, t2, S::set1(1.0f / 3.0f));
  p = S::fmadd(p, t2, S::set1(1.0f));
  const float two_log2e = 2.8853900817779268f;  // 2 / ln 2
  return S::fmadd(S::mul(p, t), S::set1(two_log2e), e);
}

// 2^y for |y| < 126: 2^n * 2^f with n = round(y), f in [-1/2, 1/2], and 2^f = e^(f ln 2)
// by its Taylor series to degree 7 (error below 1e-8).
template <class S>
typename S::V exp2_small(typename S::V y) {
  const auto n = S::round(y);
  const auto z = S::mul(S::sub(y, n), S::set1(0.6931471805599453f));
  auto p = S::set1(1.0f / 5040.0f);
  p = S::fmadd(p, z, S::set1(1.0f / 720.0f));
  p = S::fmadd(p, z, S::set1(1.0f / 120.0f));
  p = S::fmadd(p, z, S::set1(1.0f / 24.0f));
  p = S::fmadd(p, z, S::set1(1.0f / 6.0f));
  p = S::fmadd(p, z, S::set1(0.5f));
  p = S::fmadd(p, z, S::set1(1.0f));
  p = S::fmadd(p, z, S::set1(1.0f));
  return S::ldexp(p, n);
}

// d^-beta. beta = 0.75 (AlexNet's value, the default) and 0.5 have exact vector forms
// through sqrt; any other beta is 2^(-beta log2 d) with the polynomials above when
// every lane is a positive normal number and the result stays in range, and powf
// lane by lane otherwise (zero, infinite, NaN or negative d, huge exponents).
template <class S>
typename S::V neg_pow(typename S::V d, float beta) {
  if (beta == 0.75f) {
    const auto r = S::sqrt(d);
    return S::div(S::set1(1.0f), S::mul(r, S::sqrt(r)));
  }
  if (beta == 0.5f) return S::div(S::set1(1.0f), S::sqrt(d));
  if (S::W > 1 && S::all_positive_normal(d)) {
    const auto y = S::mul(S::set1(-beta), log2_positive<S>(d));
    if (S::all_less_abs(y, 120.0f)) return exp2_small<S>(y);
  }
  float lanes[S::W];
  S::store(lanes, d);
  for (int l = 0; l < S::W; ++l) lanes[l] = __builtin_powf(lanes[l], -beta);
  return S::load(lanes);
}

inline float neg_pow_scalar(float d, float beta) {
  if (beta == 0.75f) {
    const float r = __builtin_sqrtf(d);
    return 1.0f / (r * __builtin_sqrtf(r));
  }
  if (beta == 0.5f) return 1.0f / __builtin_sqrtf(d);
  return __builtin_powf(d, -beta);
}

template <class S>
void lrn_forward(const float* x, float* y, int64_t channels, int64_t stride, int64_t len,
                 int64_t size, float k, float alpha_over_size, float beta, float* scratch) {
  for (int64_t c = 0; c < channels; ++c) {
    lrn_window<S>(x, channels, stride, len, size, c, k, alpha_over_size, scratch);
    const float* xc = x + c * stride;
    float* yc = y + c * stride;
    int64_t i = 0;
    for (; i + S::W <= len; i += S::W)
      S::store(yc + i, S::mul(S::load(xc + i), neg_pow<S>(S::load(scratch + i), beta)));
    for (; i < len; ++i) yc[i] = xc[i] * neg_pow_scalar(scratch[i], beta);
  }
}

// y_i = x_i * d_i^-beta, and d_c depends on x_i for every c whose window holds i, so
//   dx_i = dy_i * d_i^-beta - 2 * beta * alpha/size * x_i * sum_c t_c,
//   t_c = dy_c * x_c * d_c^(-beta-1),  c over [i - (size-1)/2, i + size/2].
template <class S>
void lrn_backward(const float* dy, const float* x, float* dx, int64_t channels, int64_t stride,
                  int64_t len, int64_t size, float k, float alpha_over_size, float beta,
                  float* scratch) {
  float* p = scratch;                   // channels x len: d^-beta
  float* t = scratch + channels * len;  // channels x len: dy * x * d^(-beta-1)
  float* d = t + channels * len;        // len
  for (int64_t c = 0; c < channels; ++c) {
    lrn_window<S>(x, channels, stride, len, size, c, k, alpha_over_size, d);
    const float *xc = x + c * stride, *dyc = dy + c * stride;
    float *pc = p + c * len, *tc = t + c * len;
    int64_t i = 0;
    for (; i + S::W <= len; i += S::W) {
      const auto vd = S::load(d + i);
      const auto vp = neg_pow<S>(vd, beta);
      S::store(pc + i, vp);
      S::store(tc + i, S::div(S::mul(S::mul(S::load(dyc + i), S::load(xc + i)), vp), vd));
    }
    for (; i < len; ++i) {
      pc[i] = neg_pow_scalar(d[i], beta);
      tc[i] = dyc[i] * xc[i] * pc[i] / d[i];
    }
  }
  const float coef = -2.0f * beta * alpha_over_size;
  const auto vcoef = S::set1(coef);
  for (int64_t c = 0; c < channels; ++c) {
    const int64_t first = c - (size - 1) / 2 < 0 ? 0 : c - (size - 1) / 2;
    const int64_t last = min_i64(channels - 1, c + size / 2);
    const float *xc = x + c * stride, *dyc = dy + c * stride, *pc = p + c * len;
    float* dxc = dx + c * stride;
    int64_t i = 0;
    for (; i + S::W <= len; i += S::W) {
      auto acc = S::zero();
      for (int64_t j = first; j <= last; ++j) acc = S::add(acc, S::load(t + j * len + i));
      const auto v = S::mul(S::load(dyc + i), S::load(pc + i));
      S::store(dxc + i, S::fmadd(S::mul(vcoef, S::load(xc + i)), acc, v));
    }
    for (; i < len; ++i) {
      float acc = 0.0f;
      for (int64_t j = first; j <= last; ++j) acc += t[j * len + i];
      dxc[i] = dyc[i] * pc[i] + coef * xc[i] * acc;
    }
  }
}

template <class S>
Kernels make_kernels(const char* isa) {
  Kernels k;
  k.isa = isa;
  k.sum = &sum<S>;
  k.dev_sums = &dev_sums<S>;
  k.mean_m2 = &mean_m2<S>;
  k.scale_shift = &scale_shift<S>;
  k.normalize_affine = &normalize_affine<S>;
  k.grad_sums = &grad_sums<S>;
  k.grad_input = &grad_input<S>;
  k.accumulate_affine_grads = &accumulate_affine_grads<S>;
  k.cols_dev_sums = &cols_dev_sums<S>;
  k.cols_grad_sums = &cols_grad_sums<S>;
  k.cols_scale_shift = &cols_scale_shift<S>;
  k.cols_grad_input = &cols_grad_input<S>;
  k.lrn_forward = &lrn_forward<S>;
  k.lrn_backward = &lrn_backward<S>;
  return k;
}

}  // namespace
}  // namespace norm
}  // namespace cnnnative
