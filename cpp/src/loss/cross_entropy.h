// Cross-entropy of logits (N, classes) against integer class labels, forward and backward,
// with PyTorch's options: class weights w, an ignored label and label smoothing eps.
//
//   lse_i  = log(sum_j exp(x_ij)), computed as max_i + log(sum exp(x - max_i))
//   loss_i = (1 - eps) w[t_i] (lse_i - x_i,t_i) + (eps / C) sum_j w_j (lse_i - x_ij)
//            (0 for a row whose label is ignore_index)
//   d loss_i / d x_ij = (1 - eps) w[t_i] (p_ij - [j == t_i]) + (eps / C) (W p_ij - w_j)
//            with p = softmax(x_i) and W = sum_j w_j (w = 1, W = C without weights).
//
// Without weights and smoothing this is the plain fused log-softmax + NLL of before, and
// the kernels take that path (one test per row). Rows are independent and shared out
// across threads. Labels must already be checked to lie in [0, classes) or equal
// ignore_index (the binding does that, naming the bad label).
#pragma once
#include <cstdint>

namespace cnnnative {

struct CrossEntropyOptions {
  const float* class_weight = nullptr;  // (classes,) or null: every class weighs 1
  float weight_sum = 0.0f;              // W: sum of class_weight (classes when null)
  bool has_ignore = false;              // rows labelled ignore_index contribute 0
  int64_t ignore_index = -100;
  float label_smoothing = 0.0f;         // eps in [0, 1]
};

struct CrossEntropyKernels {
  // loss[r] for rows [0, rows) starting at x / target.
  void (*forward)(const float* x, const int64_t* target, int64_t rows, int64_t classes,
                  const CrossEntropyOptions& opt, float* loss);
  // gx = d loss_r / d x_r times (row_scale ? row_scale[r] : scale).
  void (*backward)(const float* x, const int64_t* target, int64_t rows, int64_t classes,
                   const CrossEntropyOptions& opt, const float* row_scale, float scale, float* gx);
};

extern const CrossEntropyKernels cross_entropy_kernels_scalar;
extern const CrossEntropyKernels cross_entropy_kernels_avx2;
extern const CrossEntropyKernels cross_entropy_kernels_avx512;

// Threaded entry points over N rows. row_scale (N floats) may be null.
void cross_entropy_forward(const float* x, const int64_t* target, int64_t N, int64_t classes,
                           const CrossEntropyOptions& opt, float* loss);
void cross_entropy_backward(const float* x, const int64_t* target, int64_t N, int64_t classes,
                            const CrossEntropyOptions& opt, const float* row_scale, float scale, float* gx);

}  // namespace cnnnative
