// Host entry points of the CUDA kernels (plain C++: the bindings include this without
// nvcc). Pointers are device pointers to C-contiguous arrays; sizes are int64 and already
// validated by the caller (bindings). Every function launches on the legacy default
// stream, checks the launch (check.h) and returns without synchronising.
#pragma once
#include <cstdint>

#include "cnnnative/conv_params.h"
#include "pool/pool.h"

namespace cnnnative {
namespace cuda {

// --- convolution (implicit GEMM; conv_*.cu) ---------------------------------------------
void conv2d_forward(const ConvParams& p, const float* x, const float* w, const float* bias, float* y);
void conv2d_backward_input(const ConvParams& p, const float* w, const float* dy, float* dx);
void conv2d_backward_weight(const ConvParams& p, const float* x, const float* dy, float* dw);
// Direct kernel for groups == C (each output channel sees one input channel).
void conv2d_depthwise_forward(const ConvParams& p, const float* x, const float* w, const float* bias,
                              float* y);
// Winograd F(m x m, 3 x 3), m = 2 or 4 (conv_winograd.cu): 3x3, stride 1, dilation 1,
// groups 1. workspace: winograd_workspace_floats(p, m) floats of device memory.
bool winograd_supported(const ConvParams& p);
int64_t winograd_workspace_floats(const ConvParams& p, int m);
void conv2d_winograd_forward(const ConvParams& p, int m, const float* x, const float* w, const float* bias, float* y,
                             float* workspace);
// Direct depthwise gradients (groups == C > 1); every element written, no zeroing needed.
bool depthwise_applies(const ConvParams& p);
void conv2d_depthwise_backward_input(const ConvParams& p, const float* w, const float* dy, float* dx);
void conv2d_depthwise_backward_weight(const ConvParams& p, const float* x, const float* dy, float* dw);
// db[k] = sum over n, hw of dy[n, k, hw]: bias gradient and batch-norm style channel sums.
void channel_sum(const float* dy, float* db, int64_t N, int64_t C, int64_t HW);

// --- SGEMM (sgemm.cu), row-major ---------------------------------------------------------
// C = clamp(alpha * op(A) op(B) + beta * C + row_bias[m] + col_bias[n], lo, hi): biases may be
// null; (lo, hi) = (-inf, inf), (0, inf) for relu, (0, 6) for relu6.
struct GemmEpilogue {
  const float* row_bias = nullptr;
  const float* col_bias = nullptr;
  float lo = -__builtin_huge_valf(), hi = __builtin_huge_valf();
};
void sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
           int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc,
           const GemmEpilogue& epilogue);

// Same contract on the tensor cores with TF32 inputs (sgemm_tf32.cu; sm_80+, else ValueError).
void sgemm_tf32(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc,
                const GemmEpilogue& epilogue);

// --- pooling (pool.cu); PoolParams validated by validate_pool_params -----------------------
void max_pool2d_forward(const PoolParams& p, const float* x, float* y, int64_t* indices);
// Indices outside their plane are skipped and counted in *bad (device int, zeroed first).
void max_pool2d_backward(const PoolParams& p, const float* dy, const int64_t* indices, float* dx,
                         int* bad);
void avg_pool2d_forward(const PoolParams& p, const float* x, float* y);
void avg_pool2d_backward(const PoolParams& p, const float* dy, float* dx);
void global_avg_pool2d_forward(const float* x, float* y, int64_t planes, int64_t hw);
void global_avg_pool2d_backward(const float* dy, float* dx, int64_t planes, int64_t hw);

// --- normalisation (norm_batch.cu, norm_rows.cu, lrn.cu) ---------------------------------
// Training: batch statistics (mean, invstd out) and running stats updated in place when
// not null (unbiased variance, as PyTorch). weight/bias may be null (1 and 0).
void batch_norm_forward_train(const float* x, const float* weight, const float* bias, float* y,
                              float* mean, float* invstd, float* running_mean, float* running_var,
                              int64_t N, int64_t C, int64_t HW, float momentum, float eps);
// Inference: running statistics; mean/invstd (C) are written for the backward.
void batch_norm_forward_eval(const float* x, const float* weight, const float* bias, float* y,
                             float* mean, float* invstd, const float* running_mean,
                             const float* running_var, int64_t N, int64_t C, int64_t HW, float eps);
// dweight/dbias may be null (not wanted); scratch_2c: 2*C floats of device scratch.
void batch_norm_backward(const float* dy, const float* x, const float* weight, const float* mean,
                         const float* invstd, float* dx, float* dweight, float* dbias, int64_t N,
                         int64_t C, int64_t HW, bool training, float* scratch_2c);

// Row normalisation: `rows` rows of `len` contiguous elements, each normalised by its own
// mean and 1/std (biased). The affine parameter of element j of row r is
// index ((r % groups) * len + j) / div: group norm uses (groups = G, div = HW) so each
// channel has its own weight; layer norm uses (groups = 1, div = 1), one per column.
void row_norm_forward(const float* x, const float* weight, const float* bias, float* y, float* mean,
                      float* rstd, int64_t rows, int64_t len, int64_t groups, int64_t div, float eps);
void row_norm_backward_input(const float* dy, const float* x, const float* weight, const float* mean,
                             const float* rstd, float* dx, int64_t rows, int64_t len, int64_t groups,
                             int64_t div);
// Group norm affine gradients: per channel c, sums over n and hw.
void group_norm_backward_affine(const float* dy, const float* x, const float* mean, const float* rstd,
                                float* dweight, float* dbias, int64_t N, int64_t C, int64_t HW,
                                int64_t G);
// Layer norm affine gradients: per column j, sums over rows.
void layer_norm_backward_affine(const float* dy, const float* x, const float* mean, const float* rstd,
                                float* dweight, float* dbias, int64_t rows, int64_t len);

// Local response normalisation across channels (PyTorch semantics); scale (same size as x)
// saves k + alpha/size * sum(x^2) for the backward.
void lrn_forward(const float* x, float* y, float* scale, int64_t N, int64_t C, int64_t HW, int64_t size,
                 float alpha, float beta, float k);
void lrn_backward(const float* dy, const float* x, const float* y, const float* scale, float* dx,
                  int64_t N, int64_t C, int64_t HW, int64_t size, float alpha, float beta);

// --- elementwise (elementwise.cu) --------------------------------------------------------
enum class Activation { relu, relu6, leaky_relu, sigmoid, tanh };
void activation_forward(Activation a, const float* x, float* y, int64_t n, float slope);
// `saved` is the forward's output (relu, relu6, sigmoid, tanh) or input (leaky_relu).
void activation_backward(Activation a, const float* dy, const float* saved, float* dx, int64_t n,
                         float slope);
void add(const float* a, const float* b, float* y, int64_t n, bool relu);
void fill(float* y, int64_t n, float value);
void scale_inplace(float* x, int64_t n, float alpha);
// *out (device double, zeroed first) += sum of x^2.
void sum_of_squares(const float* x, int64_t n, double* out);
// Same keep/drop decisions as the CPU kernels for the same (k0, k1, threshold).
void dropout_forward(const float* x, float* y, uint8_t* mask, int64_t n, uint32_t k0, uint32_t k1,
                     uint32_t threshold, float scale);
void dropout_backward(const float* dy, const uint8_t* mask, float* dx, int64_t n, float scale);
// PyTorch's SGD: d = g + wd*p; buf = first ? d : m*buf + (1-damp)*d; d = nesterov ? d + m*buf : buf;
// p -= lr * d. momentum_buffer may be null when momentum == 0.
void sgd_step(float* param, const float* grad, float* momentum_buffer, int64_t n, float lr, float momentum,
              float dampening, float weight_decay, bool nesterov, bool first_step);

// --- softmax and loss (softmax.cu) ---------------------------------------------------------
// x viewed as (outer, dim, inner), reduced along dim.
void softmax_forward(const float* x, float* y, int64_t outer, int64_t dim, int64_t inner, bool log);
void softmax_backward(const float* dy, const float* y, float* dx, int64_t outer, int64_t dim,
                      int64_t inner, bool log);
// logits (N, C), target (N) class indices. loss[i] = logsumexp(row) - row[target]; grad
// (may be null) = (softmax(row) - onehot) * grad_scale * row_scale[i] (row_scale may be
// null). Bad targets counted in *bad.
void cross_entropy(const float* logits, const int64_t* target, float* loss, float* grad, int64_t N,
                   int64_t C, float grad_scale, const float* row_scale, int* bad);

}  // namespace cuda
}  // namespace cnnnative
