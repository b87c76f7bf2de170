// Span kernels with AVX-512F: 16 floats per vector. Compiled with the AVX-512 flags only.
#include <immintrin.h>

#include "norm/kernels_impl.h"

namespace cnnnative {
namespace norm {
namespace {

struct Avx512 {
  using V = __m512;
  static constexpr int W = 16;
  static V zero() { return _mm512_setzero_ps(); }
  static V set1(float a) { return _mm512_set1_ps(a); }
  static V load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, V v) { _mm512_storeu_ps(p, v); }
  static V add(V a, V b) { return _mm512_add_ps(a, b); }
  static V sub(V a, V b) { return _mm512_sub_ps(a, b); }
  static V mul(V a, V b) { return _mm512_mul_ps(a, b); }
  static V div(V a, V b) { return _mm512_div_ps(a, b); }
  static V fmadd(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
  static V sqrt(V a) { return _mm512_sqrt_ps(a); }
  static float hsum(V a) { return _mm512_reduce_add_ps(a); }
  // x = 2^e * m, m in [1, 2) (x positive normal).
  static void exponent_mantissa(V x, V& e, V& m) {
    e = _mm512_getexp_ps(x);
    m = _mm512_getmant_ps(x, _MM_MANT_NORM_1_2, _MM_MANT_SIGN_src);
  }
  static V round(V a) { return _mm512_roundscale_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  static V ldexp(V p, V n) { return _mm512_scalef_ps(p, n); }
  // Every lane in [FLT_MIN, FLT_MAX] (so not zero, subnormal, negative, inf or NaN).
  static bool all_positive_normal(V a) {
    const __mmask16 ok = _mm512_cmp_ps_mask(a, _mm512_set1_ps(1.17549435e-38f), _CMP_GE_OQ) &
                         _mm512_cmp_ps_mask(a, _mm512_set1_ps(3.40282347e38f), _CMP_LE_OQ);
    return ok == 0xffff;
  }
  static bool all_less_abs(V a, float limit) {
    const V abs = _mm512_abs_ps(a);
    return _mm512_cmp_ps_mask(abs, _mm512_set1_ps(limit), _CMP_LT_OQ) == 0xffff;
  }
};

}  // namespace

const Kernels& kernels_avx512() {
  static const Kernels k = make_kernels<Avx512>("avx512");
  return k;
}

}  // namespace norm
}  // namespace cnnnative
