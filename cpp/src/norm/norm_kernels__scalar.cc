// Span kernels for any x86-64 (and the reference for the vector versions): a
// "vector" of one float.
#include "norm/kernels_impl.h"

namespace cnnnative {
namespace norm {
namespace {

struct Scalar {
  using V = float;
  static constexpr int W = 1;
  static V zero() { return 0.0f; }
  static V set1(float a) { return a; }
  static V load(const float* p) { return *p; }
  static void store(float* p, V v) { *p = v; }
  static V add(V a, V b) { return a + b; }
  static V sub(V a, V b) { return a - b; }
  static V mul(V a, V b) { return a * b; }
  static V div(V a, V b) { return a / b; }
  static V fmadd(V a, V b, V c) { return a * b + c; }
  static V sqrt(V a) { return __builtin_sqrtf(a); }
  static float hsum(V a) { return a; }
  // Only for the vector pow, which the scalar path never takes (it calls powf).
  static void exponent_mantissa(V x, V& e, V& m) {
    int exponent;
    m = 2.0f * __builtin_frexpf(x, &exponent);
    e = static_cast<float>(exponent - 1);
  }
  static V round(V a) { return __builtin_nearbyintf(a); }
  static V ldexp(V p, V n) { return __builtin_ldexpf(p, static_cast<int>(n)); }
  static bool all_positive_normal(V) { return false; }
  static bool all_less_abs(V a, float limit) { return __builtin_fabsf(a) < limit; }
};

}  // namespace

const Kernels& kernels_scalar() {
  static const Kernels k = make_kernels<Scalar>("scalar");
  return k;
}

}  // namespace norm
}  // namespace cnnnative
