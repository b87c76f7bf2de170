// Matrix products too thin for the packed GEMM, as the im2col convolution meets them in
// depthwise layers: y = w * cols with one output channel per group (1 x 9 times 9 x P),
// its input gradient (9 x 1 times 1 x P), and the weight gradient (1 x P times P x 9).
// The packed GEMM pads such shapes to its 14x32 register tile and spends most of its
// time on packing; these loops stream the long dimension once instead.
#pragma once
#include <cstdint>

namespace cnnnative {
namespace im2col {

// Use axpy_gemm for at most this many rows of C and of B (K): each of the M*K axpys
// streams one row of B through one row of C. (Measured: the input gradient's 9 x 1 x P
// product is no faster this way than by the GEMM, so only the forward uses it.)
constexpr int64_t kAxpyGemmMaxM = 2;
constexpr int64_t kAxpyGemmMaxK = 64;
// Use dot_gemm_nt when M * N is at most this (few dot products over a long reduction).
constexpr int64_t kDotGemmMaxMN = 64;

// C[M x N] = A * B (+ row_bias[i] on row i when not null); C is written, not read.
// A(i, k) = A[i * a_row + k * a_col] (so either layout of A), B is K x N with row stride ldb.
void axpy_gemm(int64_t M, int64_t N, int64_t K, const float* A, int64_t a_row, int64_t a_col,
               const float* B, int64_t ldb, float* C, int64_t ldc, const float* row_bias);

// C[M x N] += A * B^T: A is M x K (row stride lda), B is N x K (row stride ldb).
void dot_gemm_nt(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B,
                 int64_t ldb, float* C, int64_t ldc);

}  // namespace im2col
}  // namespace cnnnative
