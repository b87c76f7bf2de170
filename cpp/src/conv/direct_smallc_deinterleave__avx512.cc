// AVX-512 part of direct_smallc::deinterleave (direct_smallc.cc): the stride phases of a
// row's interior by permutes instead of a strided scalar gather (AlexNet conv1 under
// direct_smallc_wino splits every input row 8 ways).
#include <immintrin.h>

#include "direct_smallc_kernels.h"

namespace cnnnative {
namespace direct_smallc {

// ph[q * width + i] = src[stride * i + q] for q < stride and i in [lo, i_end), 16 values
// of i at a time; returns i_end (<= hi), the first i left to the caller. stride 2, 4 or 8.
// Each level splits every pair of vectors into its even and its odd lanes, evens of all
// pairs first: after log2(stride) levels vector q holds phase q.
int64_t deinterleave_interior__avx512(const float* src, int64_t stride, int64_t lo, int64_t hi, int64_t width,
                                      float* ph) {
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
  int64_t i = lo;
  for (; i + 16 <= hi; i += 16) {
    __m512 v[8], t[8];
    for (int64_t j = 0; j < stride; ++j) v[j] = _mm512_loadu_ps(src + stride * i + 16 * j);
    for (int64_t half = stride / 2; half >= 1; half /= 2) {
      for (int64_t m = 0; m < stride / 2; ++m) {
        t[m] = _mm512_permutex2var_ps(v[2 * m], even, v[2 * m + 1]);
        t[m + stride / 2] = _mm512_permutex2var_ps(v[2 * m], odd, v[2 * m + 1]);
      }
      for (int64_t j = 0; j < stride; ++j) v[j] = t[j];
    }
    for (int64_t q = 0; q < stride; ++q) _mm512_storeu_ps(ph + q * width + i, v[q]);
  }
  return i;
}

}  // namespace direct_smallc
}  // namespace cnnnative
