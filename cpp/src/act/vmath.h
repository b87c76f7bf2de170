// exp, sigmoid and tanh written as straight-line float arithmetic, so that the compiler
// vectorises the loops that call them with whatever ISA the including file is built for.
//
// Everything is `static inline` on purpose: each per-ISA file (`*__avx512.cc`, `*__avx2.cc`,
// `*__scalar.cc`) gets its own private copy compiled with its own flags. An ordinary inline
// function would be merged by the linker into one copy - possibly the AVX-512 one, which
// would then crash the scalar path on an older CPU.
//
// Accuracy: exp is within ~2 ulp over the float range (Cody-Waite reduction to
// r in [-ln2/2, ln2/2] and a degree-7 Taylor polynomial, truncation error < 1e-8 relative);
// overflow gives +inf, underflow below -87.3 gives 0 (denormal results are flushed), NaN
// stays NaN.
#pragma once
#include <cstdint>
#include <cstring>

namespace cnnnative {
namespace vm {

static inline float from_bits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}
static inline uint32_t to_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}

// x = n ln2 + r with |r| <= ln2/2: n = round(x / ln2) by the 1.5*2^23 trick (adding it
// leaves n in the low mantissa bits), r with ln2 split in two parts. x must lie within
// about +-2^22 (the callers clamp it).
struct Ln2Reduced {
  float r;
  int32_t n;
};
static inline Ln2Reduced reduce_ln2(float x) {
  const float shifter = 12582912.0f;
  const float t = x * 1.44269504f + shifter;
  const float n = t - shifter;
  return {(x - n * 0.693145752f) - n * 1.42860677e-6f, static_cast<int32_t>(to_bits(t) - to_bits(shifter))};
}
// 2^n for n in [-126, 127], built in the exponent field.
static inline float pow2i(int32_t n) { return from_bits(static_cast<uint32_t>(n + 127) << 23); }
// The Taylor series of exp(r) from r^7/5040 down to its 1/2 term (Horner): exp(r) is
// (q r + 1) r + 1 and expm1(r) is (q r) r + r with q this value.
static inline float exp_series_to_half(float r) {
  float p = 1.0f / 5040.0f;
  p = p * r + 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  return p * r + 0.5f;
}

static inline float exp(float x) {
  const float hi = 88.72283f, lo = -87.33654f;
  const Ln2Reduced q = reduce_ln2(x > hi ? hi : (x < lo ? lo : x));
  const float p = (exp_series_to_half(q.r) * q.r + 1.0f) * q.r + 1.0f;
  // n in [-126, 128]; 2^128 is split as 2 * 2^127.
  const int32_t n1 = q.n >> 1, n2 = q.n - n1;
  float y = p * pow2i(n1) * pow2i(n2);
  y = x > hi ? __builtin_inff() : y;
  y = x < lo ? 0.0f : y;
  return y;
}

// exp for x <= 0 (NaN stays NaN, -inf gives 0): exp's steps without the overflow side, so
// one scale by 2^n (n in [-126, 0]) instead of two and no upper clamp; the same values as
// exp, ~20% faster in GELU. Only for arguments known to be <= 0.
static inline float exp_nonpos(float x) {
  const float lo = -87.33654f;
  const Ln2Reduced q = reduce_ln2(x < lo ? lo : x);
  const float p = (exp_series_to_half(q.r) * q.r + 1.0f) * q.r + 1.0f;
  const float y = p * pow2i(q.n);
  return x < lo ? 0.0f : y;
}

// expm1 for |y| <= 0.5 without cancellation (Taylor to degree 8; relative error < 1e-8).
static inline float expm1_small(float y) {
  float p = 1.0f / 40320.0f;
  p = p * y + 1.0f / 5040.0f;
  p = p * y + 1.0f / 720.0f;
  p = p * y + 1.0f / 120.0f;
  p = p * y + 1.0f / 24.0f;
  p = p * y + 1.0f / 6.0f;
  p = p * y + 0.5f;
  p = p * y + 1.0f;
  return p * y;
}

// expm1 for y <= 0 (NaN stays NaN, -inf gives -1) on one path: y = n ln2 + r with
// |r| <= ln2/2, expm1(y) = 2^n expm1(r) + (2^n - 1). For |y| < ln2/2 n is 0 and the result
// is the series itself (full relative accuracy near 0); otherwise |expm1(y)| >= 0.29 and the
// sum does not cancel. Degree-7 series: relative error < 2e-8. About a third of expm1's
// operations (which evaluates both the series and exp), so tanh and ELU are ~2x faster.
// Below -30 expm1 is -1 in float; clamping there keeps 2^n normal.
static inline float expm1_nonpos(float y) {
  const Ln2Reduced q = reduce_ln2(y < -30.0f ? -30.0f : y);
  const float em1r = (exp_series_to_half(q.r) * q.r) * q.r + q.r;
  const float s = pow2i(q.n);
  const float e = s * em1r + (s - 1.0f);
  return y == 0.0f ? y : e;  // expm1(-0) is -0 (the sum above would give +0)
}

// expm1 over the whole range: the series near 0 (no cancellation), exp(y) - 1 elsewhere.
static inline float expm1(float y) {
  const float ay = y < 0.0f ? -y : y;
  const float small = expm1_small(y), big = vm::exp(y) - 1.0f;
  return ay < 0.5f ? small : big;  // NaN takes `big`, which is NaN
}

// log(1 + u) for u in [0, 1] (and NaN), as 2 atanh(s) with s = u / (2 + u) in [0, 1/3]:
// the odd series to s^15 leaves a relative error below 2e-9, and tiny u keep full relative
// accuracy (s ~ u/2). Softplus and log-sigmoid call it with u = exp(-|x|).
static inline float log1p_unit(float u) {
  const float s = u / (2.0f + u), z = s * s;
  float p = 1.0f / 15.0f;
  p = p * z + 1.0f / 13.0f;
  p = p * z + 1.0f / 11.0f;
  p = p * z + 1.0f / 9.0f;
  p = p * z + 1.0f / 7.0f;
  p = p * z + 1.0f / 5.0f;
  p = p * z + 1.0f / 3.0f;
  p = p * z + 1.0f;
  return 2.0f * s * p;
}

static inline float sigmoid(float x) { return 1.0f / (1.0f + vm::exp(-x)); }

// tanh(x) = sign(x) * -m / (2 + m) with m = expm1(-2|x|), which keeps full relative
// accuracy near 0 and saturates to +-1 for large |x|.
static inline float tanh(float x) {
  const float ax = x < 0.0f ? -x : x;
  const float m = expm1_nonpos(-2.0f * ax);  // NaN stays NaN
  const float t = -m / (2.0f + m);
  return x < 0.0f ? -t : (x > 0.0f ? t : x);  // keeps -0, +0 and NaN as they are
}

// erfc(z) * exp(z^2) for z >= 0 (the scaled complementary error function): t * Q(t) with
// t = 1 / (1 + z/2) and Q a degree-10 polynomial fitted (weighted least squares, relative
// error 1.6e-7 in float evaluation) to erfcx(z) / t over t in (0, 1], i.e. all z >= 0.
// Split out so that GELU's backward shares one exp(-z^2) between erfc and the normal density.
static inline float erfcx_nonneg(float z) {
  const float t = 1.0f / (1.0f + 0.5f * z);
  float q = 0.04427438601851463f;
  q = q * t - 0.24006538093090057f;
  q = q * t + 0.5049216151237488f;
  q = q * t - 0.46811240911483765f;
  q = q * t + 0.14152413606643677f;
  q = q * t - 0.06336570531129837f;
  q = q * t + 0.09460382163524628f;
  q = q * t + 0.17513100802898407f;
  q = q * t + 0.24690058827400208f;
  q = q * t + 0.2820931375026703f;
  q = q * t + 0.282094806432724f;
  return t * q;
}

// erfc(x) for GELU: for negative x, 1 + erf(x) = erfc(-x) keeps relative accuracy in the
// tail instead of cancelling. erfc(|x|) = erfcx(|x|) * exp(-x^2), erfc(-z) = 2 - erfc(z).
// Relative error ~1e-6 through gelu for |x| < 3.5 (erfc argument), growing in the far tail
// where the rounding of z*z dominates (values there are below 1e-30). NaN stays NaN.
static inline float erfc(float x) {
  const float z = x < 0.0f ? -x : x;
  const float r = erfcx_nonneg(z) * vm::exp_nonpos(-z * z);
  return x < 0.0f ? 2.0f - r : r;
}

}  // namespace vm
}  // namespace cnnnative
