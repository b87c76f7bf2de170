// Matrix products the packed GEMM serves badly, as the im2col convolution meets them:
// - axpy_gemm: y = w * cols with one or two output channels per group (depthwise:
//   1 x 9 times 9 x P), which the GEMM would pad to its 14-row register tile;
// - dot_gemm_nt: the weight gradient dy * cols^T, a block of long dot products over
//   output pixels with both operands read along their rows (per ISA).
#pragma once
#include <cstdint>

namespace cnnnative {
namespace im2col {

// Use axpy_gemm for at most this many rows of C and of B (K): each of the M*K axpys
// streams one row of B through one row of C. (Measured: the input gradient's 9 x 1 x P
// product is no faster this way than by the GEMM, so only the forward uses it.)
constexpr int64_t kAxpyGemmMaxM = 2;
constexpr int64_t kAxpyGemmMaxK = 64;

// C[M x N] = A * B (+ row_bias[i] on row i when not null); C is written, not read.
// A(i, k) = A[i * a_row + k * a_col] (so either layout of A), B is K x N with row stride ldb.
void axpy_gemm(int64_t M, int64_t N, int64_t K, const float* A, int64_t a_row, int64_t a_col,
               const float* B, int64_t ldb, float* C, int64_t ldc, const float* row_bias);

// C[M x N] += A * B^T: A is M x K (row stride lda), B is N x K (row stride ldb); both
// read along their rows. The weight gradient's shape: dw[Kg x CRS] += dy * cols^T, long
// reduction over output pixels. Chooses the active ISA's version.
// Use short_gemm_avx512 (unpacked B) for products with at most 16 rows (the forward of
// layers with few output channels) or at most 16 deep (their input gradient), at most
// kShortGemmMaxK deep (one 48-column slab of B, K x 192 bytes, must stay in L1) and A
// small (it is re-laid out on the stack).
constexpr int64_t kShortGemmMaxMOrK = 16;
constexpr int64_t kShortGemmMaxK = 200;
constexpr int64_t kShortGemmMaxAFloats = 4096;
inline bool use_short_gemm(int64_t M, int64_t K) {
  return (M <= kShortGemmMaxMOrK || K <= kShortGemmMaxMOrK) && K <= kShortGemmMaxK &&
         M * K <= kShortGemmMaxAFloats;
}

// C[M x N] = A * B (+ row_bias[i] on row i when not null), AVX-512 only; C is written,
// not read. A(i, k) = A[i * a_row + k * a_col] (either layout), B is K x N (row stride ldb).
void short_gemm_avx512(int64_t M, int64_t N, int64_t K, const float* A, int64_t a_row,
                       int64_t a_col, const float* B, int64_t ldb, float* C, int64_t ldc, const float* row_bias);

void dot_gemm_nt(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B,
                 int64_t ldb, float* C, int64_t ldc);

void dot_gemm_nt_scalar(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda,
                        const float* B, int64_t ldb, float* C, int64_t ldc);
void dot_gemm_nt_avx2(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda,
                      const float* B, int64_t ldb, float* C, int64_t ldc);
void dot_gemm_nt_avx512(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda,
                        const float* B, int64_t ldb, float* C, int64_t ldc);

}  // namespace im2col
}  // namespace cnnnative
