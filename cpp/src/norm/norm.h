// Normalization entry points (forward and backward), float32, PyTorch semantics.
//
// Every input is viewed as (N, C, S): batch, channels, and S = the product of the
// remaining (spatial) dimensions, C-contiguous. Layer norm is viewed as (M, D): rows
// and the normalized trailing size. Pointers marked "may be null" are optional.
// Each function validates its sizes first (ValueError / OverflowError in Python),
// runs on the thread team with cnnnative::num_threads() members, and picks the span
// kernels for cnnnative::active_isa() (see kernels.h).
#pragma once
#include <cstdint>

namespace cnnnative {
namespace norm {

struct NormShape {
  int64_t N = 0, C = 0, S = 0;
  int64_t numel() const;  // checked N * C * S
  void validate() const;  // sizes >= 0, numel fits int64
};

// Batch norm: statistics per channel over N * S values.
// training: batch mean and biased variance normalize; running_mean/var (may be null)
//   move towards the batch mean and the UNBIASED variance by `momentum`;
//   save_mean/save_invstd receive the batch mean and 1/sqrt(var + eps).
// eval: running_mean/var (required) normalize; saved = running_mean, 1/sqrt(running_var + eps).
void batch_norm_forward(const NormShape& s, const float* x, const float* weight, const float* bias,
                        float* running_mean, float* running_var, bool training, double momentum,
                        double eps, float* y, float* save_mean, float* save_invstd);
// grad_weight/grad_bias may be null (not wanted). weight may be null (= 1).
// training = false: dx = dy * weight * invstd (statistics were constants).
void batch_norm_backward(const NormShape& s, const float* dy, const float* x, const float* weight,
                         const float* save_mean, const float* save_invstd, bool training, float* dx,
                         float* grad_weight, float* grad_bias);

// Group norm: statistics per (n, group) over C/groups * S values; weight/bias per channel.
// Instance norm is group norm with groups == C. mean/rstd: (N, groups).
void group_norm_forward(const NormShape& s, int64_t groups, const float* x, const float* weight,
                        const float* bias, double eps, float* y, float* mean, float* rstd);
void group_norm_backward(const NormShape& s, int64_t groups, const float* dy, const float* x,
                         const float* mean, const float* rstd, const float* weight, float* dx,
                         float* grad_weight, float* grad_bias);

// Layer norm: statistics per row of D values; weight/bias (D,) elementwise. mean/rstd: (M,).
void layer_norm_forward(int64_t M, int64_t D, const float* x, const float* weight,
                        const float* bias, double eps, float* y, float* mean, float* rstd);
void layer_norm_backward(int64_t M, int64_t D, const float* dy, const float* x, const float* mean,
                         const float* rstd, const float* weight, float* dx, float* grad_weight,
                         float* grad_bias);

// Local response norm across channels (torch.nn.functional.local_response_norm):
// y = x / (k + alpha/size * sum of x^2 over channels [c - size/2, c + (size-1)/2])^beta.
struct LrnParams {
  int64_t size = 5;
  double alpha = 1e-4, beta = 0.75, k = 1.0;
  void validate() const;
};
void local_response_norm_forward(const NormShape& s, const LrnParams& p, const float* x, float* y);
void local_response_norm_backward(const NormShape& s, const LrnParams& p, const float* dy,
                                  const float* x, float* dx);

}  // namespace norm
}  // namespace cnnnative
