// Packing a transposed B for the AVX-512 kernels (panels of 16 * nv columns): the in-register 16 x 16
// transpose that turns rows of the stored B (N x K, one column of op(B) per row) into
// rows of the packed panel (k-major, 32 columns per k).
//
// trans_b is how linear layers (x @ W^T) and conv's weight gradient call SGEMM; with a
// small M each packed element is used only M times, so a scalar transpose here cost ~20%
// of the whole multiply.
#include <immintrin.h>

#include <algorithm>

#include "gemm/gemm_kernels.h"
#include "gemm/transpose16x16__avx512.h"

namespace cnnnative {
namespace gemm_detail {

void pack_b_trans__avx512(int nv, const float* b, int64_t ldb, int64_t k, int64_t n, float* dst) {
  const int nr = 16 * nv;
  for (int64_t q0 = 0; q0 < n; q0 += nr, dst += nr * k) {
    const float* src = b + q0 * ldb;  // nr stored rows, one per panel column
    if (n - q0 < nr) {
      // A partial last panel: element by element, zero-padded.
      const int64_t cols = n - q0;
      for (int64_t kk = 0; kk < k; ++kk) {
        for (int64_t c = 0; c < cols; ++c) dst[kk * nr + c] = src[c * ldb + kk];
        for (int64_t c = cols; c < nr; ++c) dst[kk * nr + c] = 0.f;
      }
      continue;
    }
    int64_t kk = 0;
    for (; kk + 16 <= k; kk += 16) {
      for (int part = 0; part < nv; ++part) {
        __m512 r[16];
        for (int i = 0; i < 16; ++i) r[i] = _mm512_loadu_ps(src + (16 * part + i) * ldb + kk);
        transpose16x16(r);
        for (int i = 0; i < 16; ++i) _mm512_store_ps(dst + (kk + i) * nr + 16 * part, r[i]);
      }
    }
    for (; kk < k; ++kk)
      for (int c = 0; c < nr; ++c) dst[kk * nr + c] = src[c * ldb + kk];
  }
}

}  // namespace gemm_detail
}  // namespace cnnnative
