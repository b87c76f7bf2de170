// The separable 3x3 / stride-1 / padding-1 average pooling (pool/avg_pool_same3.h), written
// once and compiled per ISA; the including file defines CNNNATIVE_TABLE and carries the
// ISA's flags. Plain loops over the flat plane that the compiler vectorises: the selects
// become vector compares and blends.
#include <cstdint>

#include "pool/avg_pool_same3.h"

#ifdef __AVX512F__
#include <immintrin.h>
#endif

namespace cnnnative {
namespace {

// v[i] = column sum of rows r-1, r, r+1 at flat index i = r*W + c (missing rows left out).
void column_sums(const float* x, int64_t H, int64_t W, float* v) {
  const int64_t HW = H * W;
  if (H == 1) {
#pragma omp simd
    for (int64_t i = 0; i < W; ++i) v[i] = 0.0f + x[i];
    return;
  }
#pragma omp simd
  for (int64_t i = 0; i < W; ++i) v[i] = (0.0f + x[i]) + x[i + W];
#pragma omp simd
  for (int64_t i = W; i < HW - W; ++i) v[i] = ((0.0f + x[i - W]) + x[i]) + x[i + W];
#pragma omp simd
  for (int64_t i = HW - W; i < HW; ++i) v[i] = (0.0f + x[i - W]) + x[i];
}

// y[i] = (v[i-1] + v[i] + v[i+1]) / divisor, the neighbours taken only within the row.
// v[-1] and v[HW] must be readable (the caller's zero guards).
template <bool kUniform>
void row_sums(const AvgSame3Shape& s, const float* v, float* y) {
  const int64_t HW = s.H * s.W;
  const float* left = s.has_left;
  const float* right = s.has_right;
  const float* d = s.divisor;
#pragma omp simd
  for (int64_t i = 0; i < HW; ++i) {
    const float l = left[i] != 0.0f ? v[i - 1] : 0.0f;
    const float r = right[i] != 0.0f ? v[i + 1] : 0.0f;
    const float sum = (l + v[i]) + r;
    y[i] = kUniform ? sum / 9.0f : sum / d[i];
  }
}

#ifdef __AVX512F__
// One pass per plane, 16 flat outputs at a time with the column sums in registers: the sums
// of chunks k-1, k, k+1 give each output's left and right neighbours by lane shifts
// (valignd), which the row masks then keep or drop. The same adds in the same order as
// column_sums + row_sums, so the same bits.
template <bool kUniform>
void plane_avx512(const AvgSame3Shape& s, const float* x, float* y) {
  const int64_t W = s.W, HW = s.H * s.W;
  const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  const __m512 zero = _mm512_setzero_ps();
  const __m512 nine = _mm512_set1_ps(9.0f);
  // Column sums of the chunk at flat index i (zero in lanes past the plane).
  auto column = [&](int64_t i) {
    const __m512i idx = _mm512_add_epi32(_mm512_set1_epi32(static_cast<int>(i)), lane);
    const __mmask16 in = _mm512_cmplt_epi32_mask(idx, _mm512_set1_epi32(static_cast<int>(HW)));
    const __mmask16 up = in & _mm512_cmpge_epi32_mask(idx, _mm512_set1_epi32(static_cast<int>(W)));
    const __mmask16 down = in & _mm512_cmplt_epi32_mask(idx, _mm512_set1_epi32(static_cast<int>(HW - W)));
    __m512 v = _mm512_add_ps(zero, _mm512_maskz_loadu_ps(up, x + i - W));
    v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(in, x + i));
    return _mm512_add_ps(v, _mm512_maskz_loadu_ps(down, x + i + W));
  };
  __m512 prev = zero, cur = column(0);
  for (int64_t i = 0; i < HW; i += 16) {
    const __m512 next = i + 16 < HW ? column(i + 16) : zero;
    const __mmask16 in = HW - i >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << (HW - i)) - 1u);
    const __mmask16 has_left = _mm512_cmp_ps_mask(_mm512_maskz_loadu_ps(in, s.has_left + i), zero, _CMP_NEQ_UQ);
    const __mmask16 has_right = _mm512_cmp_ps_mask(_mm512_maskz_loadu_ps(in, s.has_right + i), zero, _CMP_NEQ_UQ);
    // Lanes shifted by one: left[l] = column sum at i + l - 1, right[l] at i + l + 1; zero
    // where the neighbour is off the row.
    const __m512 left = _mm512_castsi512_ps(
        _mm512_maskz_alignr_epi32(has_left, _mm512_castps_si512(cur), _mm512_castps_si512(prev), 15));
    const __m512 right = _mm512_castsi512_ps(
        _mm512_maskz_alignr_epi32(has_right, _mm512_castps_si512(next), _mm512_castps_si512(cur), 1));
    const __m512 sum = _mm512_add_ps(_mm512_add_ps(left, cur), right);
    const __m512 d = kUniform ? nine : _mm512_maskz_loadu_ps(in, s.divisor + i);
    _mm512_mask_storeu_ps(y + i, in, _mm512_div_ps(sum, d));
    prev = cur;
    cur = next;
  }
}
#endif

void planes(const AvgSame3Shape& s, const float* x, float* y, int64_t n, float* scratch) {
  const int64_t HW = s.H * s.W;
#ifdef __AVX512F__
  if (HW + 32 < (int64_t(1) << 31)) {  // flat indices held as int32 lanes
    for (int64_t p = 0; p < n; ++p) {
      if (s.divisor)
        plane_avx512<false>(s, x + p * HW, y + p * HW);
      else
        plane_avx512<true>(s, x + p * HW, y + p * HW);
    }
    return;
  }
#endif
  float* v = scratch + 1;
  scratch[0] = 0.0f;
  v[HW] = 0.0f;
  for (int64_t p = 0; p < n; ++p) {
    column_sums(x + p * HW, s.H, s.W, v);
    if (s.divisor)
      row_sums<false>(s, v, y + p * HW);
    else
      row_sums<true>(s, v, y + p * HW);
  }
}

}  // namespace

extern const AvgSame3Kernels CNNNATIVE_TABLE = {planes};

}  // namespace cnnnative
