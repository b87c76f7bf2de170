// Group norm (and instance norm, groups == C), forward and backward.
// Row (n, g) holds channels [g*C/G, (g+1)*C/G) of sample n: C/G * S contiguous floats.
// The thread team over rows; each row's statistics come from one contiguous span.
#include <cmath>
#include <vector>

#include "cnnnative/errors.h"
#include "cnnnative/thread_pool.h"
#include "cnnnative/threads.h"
#include "norm/kernels.h"
#include "norm/norm.h"
#include "norm/stats.h"

namespace cnnnative {
namespace norm {
namespace {

void check_groups(const NormShape& s, int64_t groups) {
  s.validate();
  CN_CHECK(groups >= 1, "num_groups must be >= 1, got ", groups);
  CN_CHECK(s.C % groups == 0, "num_groups=", groups, " must divide the number of channels C=", s.C);
}

}  // namespace

void group_norm_forward(const NormShape& s, int64_t groups, const float* x, const float* weight,
                        const float* bias, double eps, float* y, float* mean, float* rstd) {
  check_groups(s, groups);
  CN_CHECK(eps >= 0.0, "eps must be >= 0, got ", eps);
  const Kernels& k = kernels();
  const int64_t channels_per_group = s.C / groups;
  const int64_t row_len = channels_per_group * s.S;
  const int64_t rows = s.N * groups;
  const bool parallel = s.numel() >= kParallelMinElements;

  team_for_each(parallel ? num_threads() : 1, rows, [&](int64_t row) {
    const float* xr = x + row * row_len;
    float* yr = y + row * row_len;
    const MeanVar mv = span_stats(k, xr, 1, 0, row_len);
    const float mu = static_cast<float>(mv.mean);
    const double r = 1.0 / std::sqrt(mv.var + eps);
    const int64_t first_channel = (row % groups) * channels_per_group;
    for (int64_t i = 0; i < channels_per_group; ++i) {
      const int64_t c = first_channel + i;
      const double scale = r * (weight ? weight[c] : 1.0f);
      k.scale_shift(xr + i * s.S, yr + i * s.S, s.S, mu, static_cast<float>(scale),
                    bias ? bias[c] : 0.0f);
    }
    mean[row] = mu;
    rstd[row] = static_cast<float>(r);
  });
}

// Per row, with xmu = x - mean, g_c = w_c * dy and M = C/G * S values:
//   dx = rstd * (g - sum(g)/M - xmu * rstd^2 * sum(g * xmu)/M)
// grad_weight[c] = sum over n of rstd * sum(dy * xmu) over channel c's S values,
// grad_bias[c] = sum over n, S of dy. Per-(n, c) partial sums go to a (N, C) buffer
// and are added over n afterwards, so rows stay independent.
void group_norm_backward(const NormShape& s, int64_t groups, const float* dy, const float* x,
                         const float* mean, const float* rstd, const float* weight, float* dx,
                         float* grad_weight, float* grad_bias) {
  check_groups(s, groups);
  const Kernels& k = kernels();
  const int64_t channels_per_group = s.C / groups;
  const int64_t row_len = channels_per_group * s.S;
  const int64_t rows = s.N * groups;
  const bool parallel = s.numel() >= kParallelMinElements;
  const bool affine_grads = grad_weight || grad_bias;
  if (s.numel() == 0) {  // nothing to normalize; the affine gradients are zero
    for (int64_t c = 0; affine_grads && c < s.C; ++c) {
      if (grad_weight) grad_weight[c] = 0.0f;
      if (grad_bias) grad_bias[c] = 0.0f;
    }
    return;
  }
  std::vector<double> partial_dw(affine_grads ? s.N * s.C : 0), partial_db(partial_dw.size());

  team_for_each(parallel ? num_threads() : 1, rows, [&](int64_t row) {
    const int64_t n = row / groups, first_channel = (row % groups) * channels_per_group;
    const int64_t offset = row * row_len;
    const float mu = mean[row];
    const double r = rstd[row];
    double sum_g = 0.0, sum_g_xmu = 0.0;
    for (int64_t i = 0; i < channels_per_group; ++i) {
      const int64_t c = first_channel + i;
      const Sums d = k.grad_sums(dy + offset + i * s.S, x + offset + i * s.S, nullptr, s.S, mu);
      const double w = weight ? weight[c] : 1.0f;
      sum_g += w * d.first;
      sum_g_xmu += w * d.second;
      if (affine_grads) {
        partial_dw[n * s.C + c] = d.second * r;
        partial_db[n * s.C + c] = d.first;
      }
    }
    const double b = row_len > 0 ? -r * r * r * sum_g_xmu / row_len : 0.0;
    const double cst = row_len > 0 ? -r * sum_g / row_len : 0.0;
    for (int64_t i = 0; i < channels_per_group; ++i) {
      const int64_t c = first_channel + i, o = offset + i * s.S;
      const double a = r * (weight ? weight[c] : 1.0f);
      k.grad_input(dy + o, x + o, nullptr, dx + o, s.S, static_cast<float>(a),
                   static_cast<float>(b), mu, static_cast<float>(cst));
    }
  });
  if (!affine_grads) return;
  for (int64_t c = 0; c < s.C; ++c) {
    double dw = 0.0, db = 0.0;
    for (int64_t n = 0; n < s.N; ++n) {
      dw += partial_dw[n * s.C + c];
      db += partial_db[n * s.C + c];
    }
    if (grad_weight) grad_weight[c] = static_cast<float>(dw);
    if (grad_bias) grad_bias[c] = static_cast<float>(db);
  }
}

}  // namespace norm
}  // namespace cnnnative
