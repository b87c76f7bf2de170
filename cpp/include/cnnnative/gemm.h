// Single-precision matrix multiply, the engine of im2col, Winograd, FFT and linear.
//
//   C = alpha * op(A) * op(B) + beta * C
//
// Row-major storage. op(A) is M x K, op(B) is K x N, C is M x N; lda/ldb/ldc are row
// strides of the arrays as stored (so A stored K x M when trans_a). beta == 0 means C
// is write-only: NaN in C is not propagated.
#pragma once
#include <cstdint>

namespace cnnnative {

// Uses the library's threads (OpenMP across blocks). Do not call from inside an
// OpenMP parallel region: use sgemm_single_thread there.
void sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
           const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
           int64_t ldc);

// Same contract, runs on the calling thread only (for callers that parallelise outside).
void sgemm_single_thread(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K,
                         float alpha, const float* A, int64_t lda, const float* B, int64_t ldb,
                         float beta, float* C, int64_t ldc);

}  // namespace cnnnative
