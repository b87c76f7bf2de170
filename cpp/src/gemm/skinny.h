// Products with very few rows (M <= kSkinnyMaxRows): a linear layer at batch 1, its input
// gradient, a GEMV. The packed GEMM pads M up to its 6..14-row tile and packs all of B
// first, so for M = 1 it reads B twice and does 6-14x the multiplies. These kernels
// stream op(B) once instead, straight from where it is stored:
//   B stored transposed (N x K, a linear layer's weight): each C element is a dot product
//     of two contiguous rows;
//   B stored K x N: each row of C is built by adding a[i][k] * B[k][:] row after row.
// A is read row-major (the driver copies a transposed A into that layout first).
// Each C element is summed by one thread in a fixed order, so results do not depend on
// the thread count.
#pragma once
#include <algorithm>
#include <cstdint>

#include "cnnnative/gemm.h"
#include "cnnnative/isa.h"

namespace cnnnative {
namespace gemm_detail {

constexpr int64_t kSkinnyMaxRows = 4;

struct SkinnyProblem {
  bool tb;     // B stored N x K
  int64_t M, K;
  float alpha;
  const float* A;  // M x K, row-major, row stride lda
  int64_t lda;
  const float* B;
  int64_t ldb;
  float beta;
  float* C;
  int64_t ldc;
  const GemmEpilogue* ep;  // null: none
};

// Computes columns [j0, j1) of C.
using SkinnyKernel = void (*)(const SkinnyProblem& p, int64_t j0, int64_t j1);
SkinnyKernel skinny_kernel(Isa isa);
void skinny__scalar(const SkinnyProblem& p, int64_t j0, int64_t j1);
void skinny__avx2(const SkinnyProblem& p, int64_t j0, int64_t j1);
void skinny__avx512(const SkinnyProblem& p, int64_t j0, int64_t j1);

// alpha * acc + beta * C + biases, clamped: what every kernel stores for element (i, j).
inline float skinny_finish(const SkinnyProblem& p, int64_t i, int64_t j, float acc) {
  float v = p.alpha * acc;
  if (p.beta != 0.f) v += p.beta * p.C[i * p.ldc + j];
  if (p.ep) {
    if (p.ep->row_bias) v += p.ep->row_bias[i];
    if (p.ep->col_bias) v += p.ep->col_bias[j];
    if (p.ep->has_clamp()) v = std::min(std::max(v, p.ep->clamp_min), p.ep->clamp_max);
  }
  return v;
}

}  // namespace gemm_detail
}  // namespace cnnnative
