// The store of a ymm int8 GEMM tile (Mr rows x NV vectors of 8 int32 columns), shared by the
// AVX2 kernel (gemm_s8__avx2.cc) and the 256-bit VNNI kernel (gemm_s8_ymm_vnni.h): whole
// tiles straight into C (added to it with `accumulate`), edge tiles through a buffer.
#pragma once
#include <immintrin.h>

#include "quant/gemm_s8_kernels.h"

namespace cnnnative::quant::detail {

template <int Mr, int NV>
inline void store_ymm_tile(const __m256i (&acc)[Mr][NV], int32_t* c, int64_t ldc, int64_t mrows, int64_t ncols,
                           bool accumulate) {
  if (mrows == Mr && ncols == 8 * NV) {
#pragma GCC unroll 6
    for (int i = 0; i < Mr; ++i)
      for (int v = 0; v < NV; ++v) {
        auto* p = reinterpret_cast<__m256i*>(c + i * ldc + 8 * v);
        __m256i r = acc[i][v];
        if (accumulate) r = _mm256_add_epi32(r, _mm256_loadu_si256(p));
        _mm256_storeu_si256(p, r);
      }
    return;
  }
  alignas(32) int32_t buf[Mr * 8 * NV];
  for (int i = 0; i < Mr; ++i)
    for (int v = 0; v < NV; ++v) _mm256_store_si256(reinterpret_cast<__m256i*>(buf + (i * NV + v) * 8), acc[i][v]);
  store_tile(buf, 8 * NV, c, ldc, mrows, ncols, accumulate);
}

}  // namespace cnnnative::quant::detail
