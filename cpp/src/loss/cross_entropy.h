// Cross-entropy of logits (N, classes) against integer class labels, forward and backward.
//
//   loss_i = log(sum_j exp(x_ij)) - x_i,t_i,  computed as (max_i - x_i,t_i) + log(sum exp(x - max_i))
//   d loss_i / d x_ij = softmax(x_i)_j - [j == t_i]
//
// Rows are independent and shared out across threads. Labels must already be checked to
// lie in [0, classes) (the binding does that, naming the bad label).
#pragma once
#include <cstdint>

namespace cnnnative {

struct CrossEntropyKernels {
  // loss[r] for rows [0, rows) starting at x / target.
  void (*forward)(const float* x, const int64_t* target, int64_t rows, int64_t classes, float* loss);
  // gx = (softmax(x) - onehot(target)) * (row_scale ? row_scale[r] : scale).
  void (*backward)(const float* x, const int64_t* target, int64_t rows, int64_t classes,
                   const float* row_scale, float scale, float* gx);
};

extern const CrossEntropyKernels cross_entropy_kernels_scalar;
extern const CrossEntropyKernels cross_entropy_kernels_avx2;
extern const CrossEntropyKernels cross_entropy_kernels_avx512;

// Threaded entry points over N rows. row_scale (N floats) may be null.
void cross_entropy_forward(const float* x, const int64_t* target, int64_t N, int64_t classes, float* loss);
void cross_entropy_backward(const float* x, const int64_t* target, int64_t N, int64_t classes,
                            const float* row_scale, float scale, float* gx);

}  // namespace cnnnative
