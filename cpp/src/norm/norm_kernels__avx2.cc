// Span kernels with AVX2 + FMA: 8 floats per vector. Compiled with -mavx2 -mfma only.
#include <immintrin.h>

#include "norm/kernels_impl.h"

namespace cnnnative {
namespace norm {
namespace {

struct Avx2 {
  using V = __m256;
  static constexpr int W = 8;
  static V zero() { return _mm256_setzero_ps(); }
  static V set1(float a) { return _mm256_set1_ps(a); }
  static V load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, V v) { _mm256_storeu_ps(p, v); }
  static V add(V a, V b) { return _mm256_add_ps(a, b); }
  static V sub(V a, V b) { return _mm256_sub_ps(a, b); }
  static V mul(V a, V b) { return _mm256_mul_ps(a, b); }
  static V div(V a, V b) { return _mm256_div_ps(a, b); }
  static V fmadd(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
  static V sqrt(V a) { return _mm256_sqrt_ps(a); }
  static float hsum(V a) {
    const __m128 s = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    const __m128 t = _mm_add_ps(s, _mm_movehl_ps(s, s));
    return _mm_cvtss_f32(_mm_add_ss(t, _mm_movehdup_ps(t)));
  }
  // x = 2^e * m, m in [1, 2) (x positive normal): exponent and mantissa bits.
  static void exponent_mantissa(V x, V& e, V& m) {
    const __m256i bits = _mm256_castps_si256(x);
    const __m256i biased = _mm256_srli_epi32(bits, 23);  // sign is 0 for positive x
    e = _mm256_cvtepi32_ps(_mm256_sub_epi32(biased, _mm256_set1_epi32(127)));
    m = _mm256_castsi256_ps(_mm256_or_si256(_mm256_and_si256(bits, _mm256_set1_epi32(0x007fffff)),
                                            _mm256_set1_epi32(0x3f800000)));
  }
  static V round(V a) { return _mm256_round_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  // p * 2^n for integral n in [-126, 127]: n goes straight into the exponent bits.
  static V ldexp(V p, V n) {
    const __m256i scale = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(scale));
  }
  // Every lane in [FLT_MIN, FLT_MAX] (so not zero, subnormal, negative, inf or NaN).
  static bool all_positive_normal(V a) {
    const V ok = _mm256_and_ps(_mm256_cmp_ps(a, _mm256_set1_ps(1.17549435e-38f), _CMP_GE_OQ),
                               _mm256_cmp_ps(a, _mm256_set1_ps(3.40282347e38f), _CMP_LE_OQ));
    return _mm256_movemask_ps(ok) == 0xff;
  }
  static bool all_less_abs(V a, float limit) {
    const V abs = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), a);
    return _mm256_movemask_ps(_mm256_cmp_ps(abs, _mm256_set1_ps(limit), _CMP_LT_OQ)) == 0xff;
  }
};

}  // namespace

const Kernels& kernels_avx2() {
  static const Kernels k = make_kernels<Avx2>("avx2");
  return k;
}

}  // namespace norm
}  // namespace cnnnative
