// The per-position products of the locally connected layer: C = A * B with one side only
// a batch wide (N samples), each operand used once. The packed SGEMM spends more time
// packing such products than multiplying (measured about 25 GFLOP/s on 16 x 32 x 288 on
// AVX2), so this kernel reads both operands where they lie:
//
//   C[i][j] = sum_k A(i, k) * B[k][j]      (C is written, not read)
//   A(i, k) = A[i * a_row + k * a_col]      (either layout of A: elements are broadcast)
//   B       K x N row-major, row stride ldb; columns N .. round_up(N, 8) - 1 must be
//           readable (their products are computed and dropped)
//
// The AVX2 kernel keeps a 6-row by 16-column tile of C in registers and streams B by
// rows; AVX-512 machines run it too (no separate AVX-512 version yet).
#pragma once
#include <cstdint>

namespace cnnnative {
namespace local {

inline int64_t padded_columns(int64_t n) { return (n + 7) / 8 * 8; }

void small_gemm(int64_t M, int64_t N, int64_t K, const float* A, int64_t a_row, int64_t a_col, const float* B,
                int64_t ldb, float* C, int64_t ldc);

void small_gemm_scalar(int64_t M, int64_t N, int64_t K, const float* A, int64_t a_row, int64_t a_col,
                       const float* B, int64_t ldb, float* C, int64_t ldc);
void small_gemm_avx2(int64_t M, int64_t N, int64_t K, const float* A, int64_t a_row, int64_t a_col,
                     const float* B, int64_t ldb, float* C, int64_t ldc);

}  // namespace local
}  // namespace cnnnative
