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
};

}  // namespace

const Kernels& kernels_avx512() {
  static const Kernels k = make_kernels<Avx512>("avx512");
  return k;
}

}  // namespace norm
}  // namespace cnnnative
