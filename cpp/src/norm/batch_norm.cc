// Batch norm, forward and backward. A channel's N * S values are N spans of S floats,
// C * S apart. Two layouts of the work:
//  - spans (S >= kMinSpanForSpans): one channel per task, the thread team over channels, each
//    span handled by the contiguous span kernels;
//  - columns (small S, e.g. (N, C) input or 7x7 maps): the input is N rows of C * S
//    floats; per-column sums run over rows (threads split the rows, see column_sums.h)
//    and are then folded into channels. Spans of a few floats would spend their time
//    in call overhead and strided access.
// Per-channel arithmetic between the passes (invstd, running statistics, coefficients)
// is O(C) and shared by both.
#include <cmath>
#include <vector>

#include "cnnnative/errors.h"
#include "cnnnative/thread_pool.h"
#include "cnnnative/threads.h"
#include "norm/column_sums.h"
#include "norm/kernels.h"
#include "norm/norm.h"
#include "norm/stats.h"

namespace cnnnative {
namespace norm {
namespace {

constexpr int64_t kMinSpanForSpans = 32;

bool use_columns(const NormShape& s) { return s.S < kMinSpanForSpans; }

int threads_for(const NormShape& s) {
  return s.numel() >= kParallelMinElements ? num_threads() : 1;
}

// Expands a per-channel value to the C * S columns of a row.
std::vector<float> per_column(const NormShape& s, const std::vector<double>& per_channel) {
  std::vector<float> v(static_cast<size_t>(s.C * s.S));
  for (int64_t c = 0; c < s.C; ++c)
    for (int64_t i = 0; i < s.S; ++i) v[c * s.S + i] = static_cast<float>(per_channel[c]);
  return v;
}

// Adds the S columns of each channel: (C * S) -> (C).
std::vector<double> fold_columns(const NormShape& s, const std::vector<double>& columns) {
  std::vector<double> v(static_cast<size_t>(s.C), 0.0);
  for (int64_t c = 0; c < s.C; ++c)
    for (int64_t i = 0; i < s.S; ++i) v[c] += columns[c * s.S + i];
  return v;
}

// Batch mean and biased variance per channel.
void channel_stats(const Kernels& k, const NormShape& s, const float* x, std::vector<double>& mean,
                   std::vector<double>& var) {
  const int64_t count = s.N * s.S, row = s.C * s.S;
  if (!use_columns(s)) {
    team_for_each(threads_for(s), s.C, [&](int64_t c) {
      const MeanVar mv = span_stats(k, x + c * s.S, s.N, row, s.S);
      mean[c] = mv.mean;
      var[c] = mv.var;
    });
    return;
  }
  // Two passes over the rows: sums about zero, then deviations about the mean.
  std::vector<double> sum1(row), sum2(row);
  std::vector<double> zero(s.C, 0.0);
  std::vector<float> mu = per_column(s, zero);
  auto dev_pass = [&] {
    column_sums(s.N, row, threads_for(s),
                [&](int64_t n, float* a1, float* a2) { k.cols_dev_sums(x + n * row, mu.data(), row, a1, a2); },
                sum1.data(), sum2.data());
  };
  dev_pass();
  const std::vector<double> total = fold_columns(s, sum1);
  for (int64_t c = 0; c < s.C; ++c) mean[c] = count > 0 ? total[c] / count : 0.0;
  mu = per_column(s, mean);
  dev_pass();
  const std::vector<double> dev = fold_columns(s, sum1), dev2 = fold_columns(s, sum2);
  for (int64_t c = 0; c < s.C; ++c) {
    if (count == 0) continue;
    const double mu_c = static_cast<float>(mean[c]), shift = dev[c] / count;
    mean[c] = mu_c + shift;
    const double v = dev2[c] / count - shift * shift;
    var[c] = v < 0.0 ? 0.0 : v;  // rounding can go below 0; NaN in the batch stays NaN (as PyTorch)
  }
}

// x -> (x - mean[c]) * scale[c] + shift[c].
void apply_scale_shift(const Kernels& k, const NormShape& s, const float* x, float* y,
                       const std::vector<double>& mean, const std::vector<double>& scale,
                       const std::vector<double>& shift) {
  const int64_t row = s.C * s.S;
  if (!use_columns(s)) {
    team_for_each(threads_for(s), s.C, [&](int64_t c) {
      for (int64_t n = 0; n < s.N; ++n)
        k.scale_shift(x + n * row + c * s.S, y + n * row + c * s.S, s.S, static_cast<float>(mean[c]),
                      static_cast<float>(scale[c]), static_cast<float>(shift[c]));
    });
    return;
  }
  const std::vector<float> mu = per_column(s, mean), sc = per_column(s, scale), sh = per_column(s, shift);
  team_for_each(threads_for(s), s.N, [&](int64_t n) {
    k.cols_scale_shift(x + n * row, y + n * row, row, mu.data(), sc.data(), sh.data());
  });
}

}  // namespace

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
  std::vector<double> mean(s.C, 0.0), var(s.C, 0.0), invstd(s.C), scale(s.C), shift(s.C);
  const bool empty = s.numel() == 0;
  if (training && !empty) channel_stats(k, s, x, mean, var);
  for (int64_t c = 0; c < s.C; ++c) {
    if (training) {
      invstd[c] = count > 0 ? 1.0 / std::sqrt(var[c] + eps) : 0.0;
      // An empty batch leaves the running statistics alone (as PyTorch).
      if (running_mean && count > 0) {
        const double unbiased = var[c] * static_cast<double>(count) / static_cast<double>(count - 1);
        running_mean[c] = static_cast<float>((1.0 - momentum) * running_mean[c] + momentum * mean[c]);
        running_var[c] = static_cast<float>((1.0 - momentum) * running_var[c] + momentum * unbiased);
      }
    } else {
      mean[c] = running_mean[c];
      invstd[c] = 1.0 / std::sqrt(static_cast<double>(running_var[c]) + eps);
    }
    scale[c] = invstd[c] * (weight ? weight[c] : 1.0f);
    shift[c] = bias ? bias[c] : 0.0f;
    save_mean[c] = static_cast<float>(mean[c]);
    save_invstd[c] = static_cast<float>(invstd[c]);
  }
  // Normalize about the float mean that is saved for the backward.
  for (int64_t c = 0; c < s.C; ++c) mean[c] = save_mean[c];
  if (!empty) apply_scale_shift(k, s, x, y, mean, scale, shift);
}

// With xmu = x - mean, g = dy and M = N * S values per channel:
//   dx = w * invstd * (g - mean(g) - xmu * invstd^2 * mean(g * xmu))   (training)
//   dx = w * invstd * g                                                (eval)
//   grad_weight = invstd * sum(g * xmu),  grad_bias = sum(g).
// i.e. dx = a * g + b * xmu + c with per-channel a, b, c.
void batch_norm_backward(const NormShape& s, const float* dy, const float* x, const float* weight,
                         const float* save_mean, const float* save_invstd, bool training, float* dx,
                         float* grad_weight, float* grad_bias) {
  s.validate();
  const int64_t count = checked_mul(s.N, s.S), row = s.C * s.S;
  const Kernels& k = kernels();
  const bool empty = s.numel() == 0;
  const bool need_sums = !empty && (training || grad_weight || grad_bias);
  std::vector<double> sum_g(s.C, 0.0), sum_g_xmu(s.C, 0.0), mean(s.C);
  for (int64_t c = 0; c < s.C; ++c) mean[c] = save_mean[c];

  if (need_sums && !use_columns(s)) {
    team_for_each(threads_for(s), s.C, [&](int64_t c) {
      for (int64_t n = 0; n < s.N; ++n) {
        const int64_t o = n * row + c * s.S;
        const Sums g = k.grad_sums(dy + o, x + o, nullptr, s.S, save_mean[c]);
        sum_g[c] += g.first;
        sum_g_xmu[c] += g.second;
      }
    });
  } else if (need_sums) {
    const std::vector<float> mu = per_column(s, mean);
    std::vector<double> col1(row), col2(row);
    column_sums(s.N, row, threads_for(s),
                [&](int64_t n, float* a1, float* a2) {
                  k.cols_grad_sums(dy + n * row, x + n * row, mu.data(), row, a1, a2);
                },
                col1.data(), col2.data());
    sum_g = fold_columns(s, col1);
    sum_g_xmu = fold_columns(s, col2);
  }

  std::vector<double> a(s.C), b(s.C, 0.0), cst(s.C, 0.0);
  for (int64_t c = 0; c < s.C; ++c) {
    const double invstd = save_invstd[c];
    if (grad_weight) grad_weight[c] = static_cast<float>(sum_g_xmu[c] * invstd);
    if (grad_bias) grad_bias[c] = static_cast<float>(sum_g[c]);
    a[c] = (weight ? weight[c] : 1.0f) * invstd;
    if (training && count > 0) {
      b[c] = -a[c] * invstd * invstd * sum_g_xmu[c] / count;
      cst[c] = -a[c] * sum_g[c] / count;
    }
  }

  if (empty) return;
  if (!use_columns(s)) {
    team_for_each(threads_for(s), s.C, [&](int64_t c) {
      for (int64_t n = 0; n < s.N; ++n) {
        const int64_t o = n * row + c * s.S;
        k.grad_input(dy + o, x + o, nullptr, dx + o, s.S, static_cast<float>(a[c]),
                     static_cast<float>(b[c]), save_mean[c], static_cast<float>(cst[c]));
      }
    });
    return;
  }
  const std::vector<float> mu = per_column(s, mean), va = per_column(s, a), vb = per_column(s, b),
                           vc = per_column(s, cst);
  team_for_each(threads_for(s), s.N, [&](int64_t n) {
    k.cols_grad_input(dy + n * row, x + n * row, dx + n * row, row, mu.data(), va.data(), vb.data(),
                      vc.data());
  });
}

}  // namespace norm
}  // namespace cnnnative
