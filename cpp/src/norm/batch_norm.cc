// Batch norm, forward and backward: one channel per task, OpenMP over channels.
// A channel's N * S values are N spans of S floats, C * S apart.
#include <cmath>

#include "cnnnative/errors.h"
#include "cnnnative/threads.h"
#include "norm/kernels.h"
#include "norm/norm.h"
#include "norm/stats.h"

namespace cnnnative {
namespace norm {

void batch_norm_forward(const NormShape& s, const float* x, const float* weight, const float* bias,
                        float* running_mean, float* running_var, bool training, double momentum,
                        double eps, float* y, float* save_mean, float* save_invstd) {
  s.validate();
  CN_CHECK(eps >= 0.0, "eps must be >= 0, got ", eps);
  CN_CHECK((running_mean == nullptr) == (running_var == nullptr),
           "running_mean and running_var must both be given or both be None");
  CN_CHECK(training || running_mean, "batch_norm in eval mode needs running_mean and running_var");
  const int64_t count = checked_mul(s.N, s.S);  // values per channel
  CN_CHECK(!training || count != 1, "Expected more than 1 value per channel when training, got N=",
           s.N, ", C=", s.C, ", spatial size ", s.S);
  const Kernels& k = kernels();
  const bool parallel = s.numel() >= kParallelMinElements;
  const int64_t channel_stride = s.C * s.S;

#pragma omp parallel for num_threads(num_threads()) schedule(static) if (parallel)
  for (int64_t c = 0; c < s.C; ++c) {
    const float* xc = x + c * s.S;
    float* yc = y + c * s.S;
    double mean, invstd;
    if (training) {
      const MeanVar mv = span_stats(k, xc, s.N, channel_stride, s.S);
      mean = mv.mean;
      invstd = count > 0 ? 1.0 / std::sqrt(mv.var + eps) : 0.0;
      // An empty batch leaves the running statistics alone (as PyTorch).
      if (running_mean && count > 0) {
        const double unbiased = mv.var * static_cast<double>(count) / static_cast<double>(count - 1);
        running_mean[c] = static_cast<float>((1.0 - momentum) * running_mean[c] + momentum * mean);
        running_var[c] = static_cast<float>((1.0 - momentum) * running_var[c] + momentum * unbiased);
      }
    } else {
      mean = running_mean[c];
      invstd = 1.0 / std::sqrt(static_cast<double>(running_var[c]) + eps);
    }
    const double scale = invstd * (weight ? weight[c] : 1.0f);
    const float shift = bias ? bias[c] : 0.0f;
    for (int64_t n = 0; n < s.N; ++n)
      k.scale_shift(xc + n * channel_stride, yc + n * channel_stride, s.S,
                    static_cast<float>(mean), static_cast<float>(scale), shift);
    save_mean[c] = static_cast<float>(mean);
    save_invstd[c] = static_cast<float>(invstd);
  }
}

// With xmu = x - mean, g = dy and M = N * S values per channel:
//   dx = w * invstd * (g - mean(g) - xmu * invstd^2 * mean(g * xmu))   (training)
//   dx = w * invstd * g                                                (eval)
//   grad_weight = invstd * sum(g * xmu),  grad_bias = sum(g).
void batch_norm_backward(const NormShape& s, const float* dy, const float* x, const float* weight,
                         const float* save_mean, const float* save_invstd, bool training, float* dx,
                         float* grad_weight, float* grad_bias) {
  s.validate();
  const int64_t count = checked_mul(s.N, s.S);
  const Kernels& k = kernels();
  const bool parallel = s.numel() >= kParallelMinElements;
  const int64_t channel_stride = s.C * s.S;
  const bool need_sums = training || grad_weight || grad_bias;

#pragma omp parallel for num_threads(num_threads()) schedule(static) if (parallel)
  for (int64_t c = 0; c < s.C; ++c) {
    const int64_t offset = c * s.S;
    const float mu = save_mean[c];
    const double invstd = save_invstd[c];
    const double w = weight ? weight[c] : 1.0f;
    double sum_g = 0.0, sum_g_xmu = 0.0;
    if (need_sums) {
      for (int64_t n = 0; n < s.N; ++n) {
        const int64_t o = offset + n * channel_stride;
        const Sums g = k.grad_sums(dy + o, x + o, nullptr, s.S, mu);
        sum_g += g.first;
        sum_g_xmu += g.second;
      }
    }
    if (grad_weight) grad_weight[c] = static_cast<float>(sum_g_xmu * invstd);
    if (grad_bias) grad_bias[c] = static_cast<float>(sum_g);
    const double a = w * invstd;
    double b = 0.0, cst = 0.0;
    if (training && count > 0) {
      b = -a * invstd * invstd * sum_g_xmu / count;
      cst = -a * sum_g / count;
    }
    for (int64_t n = 0; n < s.N; ++n) {
      const int64_t o = offset + n * channel_stride;
      k.grad_input(dy + o, x + o, nullptr, dx + o, s.S, static_cast<float>(a),
                   static_cast<float>(b), mu, static_cast<float>(cst));
    }
  }
}

}  // namespace norm
}  // namespace cnnnative
