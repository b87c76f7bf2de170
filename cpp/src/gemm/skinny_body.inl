// Portable skinny kernels (see gemm/skinny.h), compiled once per ISA by the including file,
// which defines CNNNATIVE_SKINNY_NAME. The loops are written for the compiler to vectorise.
#include <algorithm>

#include "gemm/skinny.h"

namespace cnnnative {
namespace gemm_detail {

void CNNNATIVE_SKINNY_NAME(const SkinnyProblem& p, int64_t j0, int64_t j1) {
  if (p.tb) {
    for (int64_t j = j0; j < j1; ++j) {
      const float* b = p.B + j * p.ldb;
      // Row j + 4 requested now (B is usually cold): see skinny__avx512.cc.
      for (int64_t k = 0; k < p.K; k += 16) __builtin_prefetch(b + 4 * p.ldb + k);
      for (int64_t i = 0; i < p.M; ++i) {
        const float* a = p.A + i * p.lda;
        float acc = 0.f;
#pragma omp simd reduction(+ : acc)
        for (int64_t k = 0; k < p.K; ++k) acc += a[k] * b[k];
        p.C[i * p.ldc + j] = skinny_finish(p, i, j, acc);
      }
    }
    return;
  }
  constexpr int64_t kChunk = 256;  // columns of C kept in registers / L1 per pass over B
  float acc[kSkinnyMaxRows][kChunk];
  for (int64_t c0 = j0; c0 < j1; c0 += kChunk) {
    const int64_t n = std::min(kChunk, j1 - c0);
    for (int64_t i = 0; i < p.M; ++i) std::fill(acc[i], acc[i] + n, 0.f);
    for (int64_t k = 0; k < p.K; ++k) {
      const float* b = p.B + k * p.ldb + c0;
      for (int64_t i = 0; i < p.M; ++i) {
        const float a = p.A[i * p.lda + k];
        float* r = acc[i];
#pragma omp simd
        for (int64_t c = 0; c < n; ++c) r[c] += a * b[c];
      }
    }
    for (int64_t i = 0; i < p.M; ++i)
      for (int64_t c = 0; c < n; ++c) p.C[i * p.ldc + c0 + c] = skinny_finish(p, i, c0 + c, acc[i][c]);
  }
}

}  // namespace gemm_detail
}  // namespace cnnnative
