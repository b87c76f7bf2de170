// int8 kernels (namespace cnnnative::quant): the contract between the int8 engine nodes
// (src/engine/int8_*.cc) and the kernels behind them.
//
// NOTE (branch int8q): this header and src/quant/stand_in_scalar.cc are a minimal SCALAR
// stand-in written by the int8q branch so its nodes can run and be tested; the int8k
// branch provides the real (VNNI / AMX / AVX2) kernels to the same declarations, which
// replace these two files at merge.
#pragma once
#include <cstdint>
#include <vector>

namespace cnnnative {
namespace quant {

// Weights of an int8 GEMM, M rows (output channels) of K values, in the kernel's layout,
// with each row's sum (the zero-point correction of an asymmetric uint8 input needs it).
struct PackedWeightsS8 {
  int64_t M = 0, K = 0;
  std::vector<int8_t> data;       // stand-in layout: row-major M x K
  std::vector<int32_t> row_sums;  // sum_k w[m, k]
};

// w: M x K row-major int8 (M output channels, K = C/groups * R * S).
PackedWeightsS8 pack_weights_s8(const int8_t* w, int64_t M, int64_t K);

// C[m, n] = sum_k W[m, k] * X[k, n] for m < M, n < N, exact in int32. X is uint8, K rows
// of N columns with row stride ldx; C has row stride ldc. Single-threaded (the caller
// splits the work).
void gemm_s8u8_s32(const PackedWeightsS8& w, int64_t N, const uint8_t* x, int64_t ldx, int32_t* c, int64_t ldc);

// The ISA the int8 kernels run with ("scalar" for the stand-in).
const char* int8_isa();

}  // namespace quant
}  // namespace cnnnative
