// AVX-512: the prepacked conv's pixels x channels product back into NCHW, with bias,
// residual and activation, 16 x 16 blocks at a time through an in-register transpose.
// (The scalar loop reads the product with a stride per element; for shallow convs, such
// as a 1x1 downsample with 64 input channels, that store cost as much as the multiply.)
#include <immintrin.h>

#include "engine/kernels.h"
#include "gemm/transpose16x16__avx512.h"

namespace cnnnative {
namespace engine {

void store_transposed__avx512(Activation act, const float* t, int64_t ldt, int64_t pixels, int64_t channels,
                              const float* bias, const float* res, float* y, int64_t ldy) {
  const __m512 zero = _mm512_setzero_ps(), six = _mm512_set1_ps(6.f);
  for (int64_t c0 = 0; c0 < channels; c0 += 16) {
    const int cn = int(std::min<int64_t>(16, channels - c0));
    const __mmask16 cmask = __mmask16((1u << cn) - 1u);
    for (int64_t i0 = 0; i0 < pixels; i0 += 16) {
      const int pn = int(std::min<int64_t>(16, pixels - i0));
      const __mmask16 pmask = __mmask16((1u << pn) - 1u);
      __m512 r[16];
      for (int j = 0; j < 16; ++j) r[j] = j < pn ? _mm512_maskz_loadu_ps(cmask, t + (i0 + j) * ldt + c0) : zero;
      gemm_detail::transpose16x16(r);  // r[c]: channel c0 + c at pixels i0 .. i0 + 15
      for (int c = 0; c < cn; ++c) {
        __m512 v = r[c];
        if (bias) v = _mm512_add_ps(v, _mm512_set1_ps(bias[c0 + c]));
        float* yc = y + (c0 + c) * ldy + i0;
        if (res) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(pmask, res + (c0 + c) * ldy + i0));
        // Data second: max/min return the second operand on NaN, so NaN stays NaN.
        if (act == Activation::relu) v = _mm512_max_ps(zero, v);
        if (act == Activation::relu6) v = _mm512_min_ps(six, _mm512_max_ps(zero, v));
        _mm512_mask_storeu_ps(yc, pmask, v);
      }
    }
  }
}

}  // namespace engine
}  // namespace cnnnative
