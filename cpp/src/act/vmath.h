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
#include <cmath>
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

// exp(r) - 1 - r for |r| <= ln2/2 divided by r^2: a minimax polynomial of degree 4 (fitted for
// the relative error of expm1 over |r| <= 0.35), so that exp(r) = (q r + 1) r + 1 and
// expm1(r) = (q r) r + r are degree 6 in r. In float arithmetic they are as accurate as
// the degree-7 Taylor series (exp within 9.2e-8, expm1 within 9.6e-8 relative over the
// range; the series: 8.7e-8 and 8.8e-8) for one operation less.
static inline float exp_poly_q(float r) {
  float q = 0.001390153425745666f;
  q = q * r + 0.008363739587366581f;
  q = q * r + 0.04166686162352562f;
  q = q * r + 0.16666573286056519f;
  return q * r + 0.5f;
}
// 2^n as a float for any n: 0 for n <= -127 and +inf for n >= 128, by clamping the biased
// exponent in integer arithmetic (two integer min/max instead of float compares and blends).
static inline float pow2i_sat(int32_t n) {
  int32_t b = n + 127;
  b = b < 0 ? 0 : b;
  b = b > 255 ? 255 : b;
  return from_bits(static_cast<uint32_t>(b) << 23);
}
// exp(x) for x in [-104, 104] (callers clamp; NaN stays NaN), one scale by pow2i_sat: the
// result is 0 below x = -88.03 (results from there up to -87.3 are denormal: exp rounds them
// to 0 too), and +inf from x = 88.38 on, where exp is still finite up to 88.72. For the
// formulas that only need exp's size there (1 / (1 + e), x / (1 + e)); ~30% fewer operations
// than exp.
static inline float exp_sat_core(float x) {
  const Ln2Reduced q = reduce_ln2(x);
  const float p = (exp_poly_q(q.r) * q.r + 1.0f) * q.r + 1.0f;
  return p * pow2i_sat(q.n);
}

// v, hidden from the optimiser. The kernels clamp arguments to bounds fetched through this
// before their loops: with the bounds known at compile time, GCC evaluates the rest of a
// formula separately for the clamped lanes and blends, which turned one division into three.
static inline float opaque(float v) {
#if defined(__GNUC__)
  __asm__("" : "+r"(v));
#endif
  return v;
}
// min(max(x, lo), hi) with NaN passing; lo and hi from clamp_bounds (see opaque).
struct Clamp {
  float lo, hi;
};
static inline Clamp clamp_bounds(float lo, float hi) { return {opaque(lo), opaque(hi)}; }
static inline float clamp(float x, Clamp c) {
  x = x > c.hi ? c.hi : x;
  return x < c.lo ? c.lo : x;
}
// exp_sat_core's range, and its lower half for arguments <= 0.
static inline Clamp exp_bounds() { return clamp_bounds(-104.0f, 104.0f); }
static inline float exp_sat(float x, Clamp c) { return exp_sat_core(clamp(x, c)); }

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

// exp for x <= 0 (NaN stays NaN, -inf gives 0): exp_sat_core with only the lower clamp. Results
// below 2^-126 (x < -87.3) are 0 or denormal (p 2^-126); exp flushes them all to 0. Only for
// arguments known to be <= 0.
static inline float exp_nonpos(float x, Clamp c) { return exp_sat_core(x < c.lo ? c.lo : x); }

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
// sum does not cancel. Degree-6 polynomial (exp_poly_q). About a third of expm1's
// operations (which evaluates both the series and exp), so tanh and ELU are ~2x faster.
// Below -30 expm1 is -1 in float; clamping there keeps 2^n normal.
static inline float expm1_nonpos(float y) {
  const Ln2Reduced q = reduce_ln2(y < -30.0f ? -30.0f : y);
  const float em1r = (exp_poly_q(q.r) * q.r) * q.r + q.r;
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
// 2 atanh(s) / s is a minimax polynomial of degree 4 in z = s^2 <= 1/9 (relative error 4e-9,
// the odd series to s^15 it replaces: 2e-9; both far below float rounding), and tiny u keep
// full relative accuracy (s ~ u/2). Softplus and log-sigmoid call it with u = exp(-|x|).
static inline float log1p_unit(float u) {
  const float s = u / (2.0f + u), z = s * s;
  float p = 0.2817833423614502f;
  p = p * z + 0.27960604429244995f;
  p = p * z + 0.40024909377098083f;
  p = p * z + 0.6666631698608398f;
  p = p * z + 2.0f;
  return s * p;
}

// 1 / (1 + exp(-x)) for any x: exp_sat's +inf (x <= -88.4) gives 0; NaN stays NaN.
static inline float sigmoid_fast(float x, Clamp c) { return 1.0f / (1.0f + exp_sat(-x, c)); }

static inline float sigmoid(float x) { return 1.0f / (1.0f + vm::exp(-x)); }

// tanh(x) = sign(x) * -m / (2 + m) with m = expm1(-2|x|), which keeps full relative
// accuracy near 0 and saturates to +-1 for large |x|.
static inline float tanh(float x) {
  const float ax = std::fabs(x);  // one AND (x < 0 ? -x : x is a compare and a blend)
  const float m = expm1_nonpos(-2.0f * ax);  // NaN stays NaN
  const float t = -m / (2.0f + m);
  return x < 0.0f ? -t : (x > 0.0f ? t : x);  // keeps -0, +0 and NaN as they are
}

// 2^f for |f| <= 1/2: a degree-6 minimax polynomial, relative error 9e-8 in float.
static inline float exp2_fraction(float f) {
  float p = 0.00015403512225020677f;
  p = p * f + 0.0013390746898949146f;
  p = p * f + 0.009618237614631653f;
  p = p * f + 0.05550357326865196f;
  p = p * f + 0.24022649228572845f;
  p = p * f + 0.6931471824645996f;
  return p * f + 1.0f;
}

// 2^(-w^2) for w in [0, 12.2] (callers clamp; NaN stays NaN): w^2 = n - f with n an integer
// and |f| <= 1/2, both from fused multiply-adds with w * w exact inside them (so the square is
// never rounded on its own, unlike exp(-z * z)), then 2^f by exp2_fraction and 2^n by
// pow2i_sat: 0 from w^2 = 126.5 on.
static inline float exp2_neg_square(float w) {
  const float shifter = 12582912.0f;
  const float t = -w * w + shifter;  // -w^2 rounded to an integer, in the low mantissa bits
  const float n = t - shifter, f = -w * w - n;
  return exp2_fraction(f) * pow2i_sat(static_cast<int32_t>(to_bits(t) - to_bits(shifter)));
}

// 2^w for w in [-150, 150] (callers clamp; NaN stays NaN): w = n + f, n = round(w) by the
// shifter, f = w - n exact (|f| <= 1/2), 2^f by exp2_fraction and 2^n by pow2i_sat (0 from
// w = -126.5 down, inf from 127.5 up). Three operations of reduction instead of exp's four; for formulas whose argument is a product anyway, so that log2(e)
// folds into its constants at no cost in accuracy (the argument's own rounding dominates).
static inline float exp2_sat_core(float w) {
  const float shifter = 12582912.0f;
  const float t = w + shifter;
  const float n = t - shifter, f = w - n;
  return exp2_fraction(f) * pow2i_sat(static_cast<int32_t>(to_bits(t) - to_bits(shifter)));
}

// The normal distribution at -|x| for GELU: e = exp(-x^2/2) and h = Phi(-|x|) = erfc(z)/2 with
// z = |x|/sqrt 2, relative accuracy kept in the tail (no cancellation in 1 + erf). Both come
// from w = |x| sqrt(log2(e)/2) (exp(-x^2/2) = 2^(-w^2)), capped at c.hi = 12.2, where e is 0
// already. erfc(z)/2 = exp(-z^2) t Q(t), t = 1 / (1 + z/2), Q a degree-8 polynomial fitted
// (Lawson's minimax iteration, relative error 4e-8 in exact arithmetic, 3.3e-7 in float
// evaluation where t's rounding dominates) over z in [0, 9.4], the range where exp(-z^2) is
// not 0. NaN stays NaN.
struct NormalTail {
  float e, h;
};
static inline Clamp gelu_bounds() { return clamp_bounds(0.0f, 12.2f); }
static inline NormalTail normal_tail(float ax, Clamp c) {
  float w = ax * 0.8493217825889587f;
  w = w > c.hi ? c.hi : w;
  const float e = exp2_neg_square(w);
  const float t = 1.0f / (1.0f + 0.41627731919288635f * w);  // z / 2 = w * 0.5 / sqrt(log2 e)
  float q = -0.029423516243696213f;
  q = q * t + 0.14174364507198334f;
  q = q * t - 0.24246810376644135f;
  q = q * t + 0.13773111999034882f;
  q = q * t - 0.012409542687237263f;
  q = q * t + 0.10095825791358948f;
  q = q * t + 0.12165012210607529f;
  q = q * t + 0.14117400348186493f;
  q = q * t + 0.1410439908504486f;
  return {e, (t * q) * e};
}

}  // namespace vm
}  // namespace cnnnative
