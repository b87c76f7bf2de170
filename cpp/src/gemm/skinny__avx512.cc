// Skinny GEMM kernels with AVX-512 intrinsics (see gemm/skinny.h).
//   B stored N x K: NJ columns at a time, M x NJ dot products accumulated 16 lanes wide
//     and reduced at the end (each B row is read once for all M rows of A).
//   B stored K x N: 64 columns of C stay in M x 4 registers while K rows of B stream by.
#include <immintrin.h>

#include <algorithm>

#include "gemm/skinny.h"

namespace cnnnative {
namespace gemm_detail {
namespace {

inline __mmask16 first_lanes(int64_t n) {
  return n >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << n) - 1u);
}

template <int M, int NJ>
void dot_block(const SkinnyProblem& p, int64_t j) {
  __m512 acc[M][NJ];
  for (int i = 0; i < M; ++i)
    for (int q = 0; q < NJ; ++q) acc[i][q] = _mm512_setzero_ps();
  const float* b[NJ];
  for (int q = 0; q < NJ; ++q) b[q] = p.B + (j + q) * p.ldb;
  // The rows of the next block, a cache line per row and step: B is usually cold (a
  // network's weights do not stay in cache between runs), and on one core DRAM streams
  // faster with these requests in flight early than with the hardware prefetcher alone.
  const float* ahead = p.B + (j + NJ) * p.ldb;
  int64_t k = 0;
  for (; k + 16 <= p.K; k += 16) {
    for (int q = 0; q < NJ; ++q) _mm_prefetch(reinterpret_cast<const char*>(ahead + q * p.ldb + k), _MM_HINT_T0);
    __m512 bv[NJ];
    for (int q = 0; q < NJ; ++q) bv[q] = _mm512_loadu_ps(b[q] + k);
    for (int i = 0; i < M; ++i) {
      const __m512 a = _mm512_loadu_ps(p.A + i * p.lda + k);
      for (int q = 0; q < NJ; ++q) acc[i][q] = _mm512_fmadd_ps(a, bv[q], acc[i][q]);
    }
  }
  if (k < p.K) {
    const __mmask16 m = first_lanes(p.K - k);
    __m512 bv[NJ];
    for (int q = 0; q < NJ; ++q) bv[q] = _mm512_maskz_loadu_ps(m, b[q] + k);
    for (int i = 0; i < M; ++i) {
      const __m512 a = _mm512_maskz_loadu_ps(m, p.A + i * p.lda + k);
      for (int q = 0; q < NJ; ++q) acc[i][q] = _mm512_fmadd_ps(a, bv[q], acc[i][q]);
    }
  }
  for (int i = 0; i < M; ++i)
    for (int q = 0; q < NJ; ++q) p.C[i * p.ldc + j + q] = skinny_finish(p, i, j + q, _mm512_reduce_add_ps(acc[i][q]));
}

template <int M>
void dot_columns(const SkinnyProblem& p, int64_t j0, int64_t j1) {
  int64_t j = j0;
  for (; j + 4 <= j1; j += 4) dot_block<M, 4>(p, j);
  for (; j < j1; ++j) dot_block<M, 1>(p, j);
}

template <int M>
void axpy_columns(const SkinnyProblem& p, int64_t j0, int64_t j1) {
  for (int64_t c0 = j0; c0 < j1; c0 += 64) {
    const int64_t n = std::min<int64_t>(64, j1 - c0);
    __mmask16 mask[4];
    for (int q = 0; q < 4; ++q) mask[q] = first_lanes(std::max<int64_t>(0, n - 16 * q));
    __m512 acc[M][4];
    for (int i = 0; i < M; ++i)
      for (int q = 0; q < 4; ++q) acc[i][q] = _mm512_setzero_ps();
    for (int64_t k = 0; k < p.K; ++k) {
      const float* b = p.B + k * p.ldb + c0;
      __m512 bv[4];
      for (int q = 0; q < 4; ++q) bv[q] = _mm512_maskz_loadu_ps(mask[q], b + 16 * q);
      for (int i = 0; i < M; ++i) {
        const __m512 a = _mm512_set1_ps(p.A[i * p.lda + k]);
        for (int q = 0; q < 4; ++q) acc[i][q] = _mm512_fmadd_ps(a, bv[q], acc[i][q]);
      }
    }
    alignas(64) float row[64];
    for (int i = 0; i < M; ++i) {
      for (int q = 0; q < 4; ++q) _mm512_store_ps(row + 16 * q, acc[i][q]);
      for (int64_t c = 0; c < n; ++c) p.C[i * p.ldc + c0 + c] = skinny_finish(p, i, c0 + c, row[c]);
    }
  }
}

template <int M>
void run_rows(const SkinnyProblem& p, int64_t j0, int64_t j1) {
  if (p.tb)
    dot_columns<M>(p, j0, j1);
  else
    axpy_columns<M>(p, j0, j1);
}

}  // namespace

void skinny__avx512(const SkinnyProblem& p, int64_t j0, int64_t j1) {
  static_assert(kSkinnyMaxRows == 4, "one instantiation per row count");
  switch (p.M) {
    case 1: run_rows<1>(p, j0, j1); break;
    case 2: run_rows<2>(p, j0, j1); break;
    case 3: run_rows<3>(p, j0, j1); break;
    default: run_rows<4>(p, j0, j1); break;
  }
}

}  // namespace gemm_detail
}  // namespace cnnnative
