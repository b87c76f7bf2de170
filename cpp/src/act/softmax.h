// softmax / log_softmax along one dimension, forward and backward.
//
// The tensor is viewed as (outer, D, inner) with the softmax taken over D. When inner == 1
// each row is contiguous (the common case: logits (N, classes)); otherwise the kernels walk
// D with stride `inner` and vectorise across neighbouring inner positions.
// Numerically stable: the row maximum is subtracted before exp, so inputs of any magnitude
// (1e4 and beyond) give no overflow.
#pragma once
#include <cstdint>

namespace cnnnative {

struct SoftmaxKernels {
  // rows contiguous rows of length D.
  void (*rows_forward)(const float* x, float* y, int64_t rows, int64_t D, bool log);
  void (*rows_backward)(const float* g, const float* y, float* gx, int64_t rows, int64_t D, bool log);
  // One (D, inner) slab starting at x; handles inner positions [i0, i1).
  void (*strided_forward)(const float* x, float* y, int64_t D, int64_t inner, int64_t i0, int64_t i1,
                          bool log);
  void (*strided_backward)(const float* g, const float* y, float* gx, int64_t D, int64_t inner,
                           int64_t i0, int64_t i1, bool log);
};

extern const SoftmaxKernels softmax_kernels_scalar;
extern const SoftmaxKernels softmax_kernels_avx2;
extern const SoftmaxKernels softmax_kernels_avx512;

// Threaded entry points. x, y: outer * D * inner floats. log selects log_softmax.
void softmax_forward(const float* x, float* y, int64_t outer, int64_t D, int64_t inner, bool log);
// gx from grad_output g and the forward's output y.
void softmax_backward(const float* g, const float* y, float* gx, int64_t outer, int64_t D,
                      int64_t inner, bool log);

}  // namespace cnnnative
