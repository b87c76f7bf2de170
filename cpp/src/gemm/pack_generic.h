// Portable packing loops, included by each ISA's kernel file so that the compiler
// vectorises them with that file's flags. Everything here has internal linkage (an
// anonymous namespace): each ISA file gets its own copy, so copies built with different
// flags never get merged by the linker.
//
// Layouts: see gemm_kernels.h. Padding rows/columns are written as zeros, so every
// element of a packed panel is written on each call (no reliance on pre-zeroed memory).
#pragma once
#include <algorithm>
#include <cstdint>

#include "gemm/gemm_kernels.h"

namespace cnnnative {
namespace gemm_detail {
namespace {

template <int MR>
void pack_a_generic(bool trans, const float* a, int64_t lda, int64_t m, int64_t k, float alpha,
                    float* dst) {
  for (int64_t p0 = 0; p0 < m; p0 += MR, dst += MR * k) {
    const int rows = static_cast<int>(std::min<int64_t>(MR, m - p0));
    if (trans) {
      // op(A)[i][kk] = a[kk*lda + i]: a panel row of MR values is contiguous in memory.
      for (int64_t kk = 0; kk < k; ++kk) {
        const float* src = a + kk * lda + p0;
        float* d = dst + kk * MR;
        for (int r = 0; r < rows; ++r) d[r] = alpha * src[r];
        for (int r = rows; r < MR; ++r) d[r] = 0.f;
      }
    } else {
      // op(A)[i][kk] = a[i*lda + kk]: read each row contiguously, write with stride MR
      // (the panel is small enough to stay in L1 while it is written).
      for (int r = 0; r < rows; ++r) {
        const float* src = a + (p0 + r) * lda;
        for (int64_t kk = 0; kk < k; ++kk) dst[kk * MR + r] = alpha * src[kk];
      }
      for (int r = rows; r < MR; ++r)
        for (int64_t kk = 0; kk < k; ++kk) dst[kk * MR + r] = 0.f;
    }
  }
}

template <int NR>
void pack_b_generic(bool trans, const float* b, int64_t ldb, int64_t k, int64_t n, float* dst) {
  for (int64_t q0 = 0; q0 < n; q0 += NR, dst += NR * k) {
    const int cols = static_cast<int>(std::min<int64_t>(NR, n - q0));
    if (trans) {
      // op(B)[kk][j] = b[j*ldb + kk]: read each stored row contiguously.
      for (int c = 0; c < cols; ++c) {
        const float* src = b + (q0 + c) * ldb;
        for (int64_t kk = 0; kk < k; ++kk) dst[kk * NR + c] = src[kk];
      }
      for (int c = cols; c < NR; ++c)
        for (int64_t kk = 0; kk < k; ++kk) dst[kk * NR + c] = 0.f;
    } else {
      for (int64_t kk = 0; kk < k; ++kk) {
        const float* src = b + kk * ldb + q0;
        float* d = dst + kk * NR;
        if (cols == NR) {
          for (int c = 0; c < NR; ++c) d[c] = src[c];
        } else {
          for (int c = 0; c < cols; ++c) d[c] = src[c];
          for (int c = cols; c < NR; ++c) d[c] = 0.f;
        }
      }
    }
  }
}

// The epilogue for one element, used by the edge paths that work element by element.
inline float apply_epilogue_scalar(float v, const TileEpilogue* ep, int r, int c) {
  if (!ep) return v;
  if (ep->row_bias) v += ep->row_bias[r];
  if (ep->col_bias) v += ep->col_bias[c];
  if (ep->clamp) v = std::min(std::max(v, ep->lo), ep->hi);
  return v;
}

// Writes an MR x NR tile computed into `tmp` to the m x n corner of C, applying beta
// (C is not read when beta == 0) and the epilogue. The edge path of the AVX2 and scalar
// kernels: they compute the whole tile into a small buffer and copy what is needed.
template <int MR, int NR>
void store_edge_from_tile(const float* tmp, int64_t m, int64_t n, float* c, int64_t ldc,
                          float beta, const TileEpilogue* ep) {
  for (int64_t r = 0; r < m; ++r) {
    float* crow = c + r * ldc;
    for (int64_t j = 0; j < n; ++j) {
      float v = tmp[r * NR + j];
      if (beta != 0.f) v += beta * crow[j];
      crow[j] = apply_epilogue_scalar(v, ep, static_cast<int>(r), static_cast<int>(j));
    }
  }
}

}  // namespace
}  // namespace gemm_detail
}  // namespace cnnnative
