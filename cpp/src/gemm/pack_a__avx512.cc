// Packing A for the AVX-512 kernels (panels of MR <= 16 rows, alpha folded in).
//
// op(A) not transposed: MR rows of A are read 16 (or, for MR <= 8, 8) k-values at a
// time, transposed in registers, and each k's MR values stored with one masked store. Transposed: op(A)'s
// MR values for one k are contiguous in memory, so each k is one masked load and store.
// When the other dimension is small (conv's 512 x 49), packing the big A is a large part
// of the whole multiply, so it is worth vectorising.
#include <immintrin.h>

#include "gemm/gemm_kernels.h"
#include "gemm/transpose16x16__avx512.h"

namespace cnnnative {
namespace gemm_detail {
namespace {

// r[i][j] -> r[j][i] for an 8 x 8 block in ymm registers (for panels of <= 8 rows,
// where a 16 x 16 transpose would produce mostly unused lanes).
inline void transpose8x8(__m256 (&r)[8]) {
  __m256 t[8], u[8];
  for (int i = 0; i < 4; ++i) {
    t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  for (int i = 0; i < 2; ++i) {
    u[4 * i + 0] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
    u[4 * i + 1] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0xEE);
    u[4 * i + 2] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
    u[4 * i + 3] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xEE);
  }
  // Lane half h of u[4i + j] holds column 4h + j for rows 4i .. 4i+3.
  for (int j = 0; j < 4; ++j) {
    r[j] = _mm256_permute2f128_ps(u[j], u[4 + j], 0x20);
    r[4 + j] = _mm256_permute2f128_ps(u[j], u[4 + j], 0x31);
  }
}

// Non-transposed A into panels of mr <= 8 rows, 8 k-values at a time.
void pack_a_rows_upto8(int mr, int rows, const float* src, int64_t lda, int64_t k, float alpha,
                       float* dst) {
  const __m256 scale = _mm256_set1_ps(alpha);
  const __mmask8 panel_mask = static_cast<__mmask8>((1u << mr) - 1u);
  int64_t kk = 0;
  for (; kk + 8 <= k; kk += 8) {
    __m256 r[8];
    for (int i = 0; i < 8; ++i)
      r[i] = i < rows ? _mm256_loadu_ps(src + i * lda + kk) : _mm256_setzero_ps();
    transpose8x8(r);  // r[j] = column kk + j: the values of rows 0..7
    for (int j = 0; j < 8; ++j)
      _mm256_mask_storeu_ps(dst + (kk + j) * mr, panel_mask, _mm256_mul_ps(r[j], scale));
  }
  for (; kk < k; ++kk) {
    for (int i = 0; i < rows; ++i) dst[kk * mr + i] = alpha * src[i * lda + kk];
    for (int i = rows; i < mr; ++i) dst[kk * mr + i] = 0.f;
  }
}

}  // namespace

void pack_a__avx512(int mr, bool trans, const float* a, int64_t lda, int64_t m, int64_t k,
                    float alpha, float* dst) {
  const __m512 scale = _mm512_set1_ps(alpha);
  const __mmask16 panel_mask = static_cast<__mmask16>((1u << mr) - 1u);
  for (int64_t p0 = 0; p0 < m; p0 += mr, dst += mr * k) {
    const int rows = static_cast<int>(m - p0 < mr ? m - p0 : mr);
    const __mmask16 rows_mask = static_cast<__mmask16>((1u << rows) - 1u);
    if (trans) {
      // op(A)[p0 + r][kk] = a[kk * lda + p0 + r]; rows past m are stored as zeros.
      for (int64_t kk = 0; kk < k; ++kk) {
        const __m512 v = _mm512_maskz_loadu_ps(rows_mask, a + kk * lda + p0);
        _mm512_mask_storeu_ps(dst + kk * mr, panel_mask, _mm512_mul_ps(v, scale));
      }
      continue;
    }
    const float* src = a + p0 * lda;
    if (mr <= 8) {
      pack_a_rows_upto8(mr, rows, src, lda, k, alpha, dst);
      continue;
    }
    int64_t kk = 0;
    for (; kk + 16 <= k; kk += 16) {
      __m512 r[16];
      for (int i = 0; i < 16; ++i)
        r[i] = i < rows ? _mm512_loadu_ps(src + i * lda + kk) : _mm512_setzero_ps();
      transpose16x16(r);  // r[j] = column kk + j: the values of rows 0..15
      for (int j = 0; j < 16; ++j)
        _mm512_mask_storeu_ps(dst + (kk + j) * mr, panel_mask, _mm512_mul_ps(r[j], scale));
    }
    for (; kk < k; ++kk) {
      for (int i = 0; i < rows; ++i) dst[kk * mr + i] = alpha * src[i * lda + kk];
      for (int i = rows; i < mr; ++i) dst[kk * mr + i] = 0.f;
    }
  }
}

}  // namespace gemm_detail
}  // namespace cnnnative
