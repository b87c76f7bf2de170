// Layer norm, forward and backward: rows of D contiguous floats, the thread team over rows.
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

void layer_norm_forward(int64_t M, int64_t D, const float* x, const float* weight,
                        const float* bias, double eps, float* y, float* mean, float* rstd) {
  CN_CHECK(M >= 0 && D >= 0, "layer_norm: negative size, rows=", M, ", normalized size=", D);
  CN_CHECK(eps >= 0.0, "eps must be >= 0, got ", eps);
  const int64_t numel = checked_mul(M, D, "layer_norm input size");
  const Kernels& k = kernels();

  team_for_each(numel >= kParallelMinElements ? num_threads() : 1, M, [&](int64_t row) {
    const MeanVar mv = span_stats(k, x + row * D, 1, 0, D);
    const float mu = static_cast<float>(mv.mean);
    const float r = static_cast<float>(1.0 / std::sqrt(mv.var + eps));
    k.normalize_affine(x + row * D, y + row * D, D, mu, r, weight, bias);
    mean[row] = mu;
    rstd[row] = r;
  });
}

// Per row, with g = w * dy, xmu = x - mean:
//   dx = rstd * (g - sum(g)/D - xmu * rstd^2 * sum(g * xmu)/D)
// grad_weight[j] = sum over rows of dy[j] * xmu[j] * rstd, grad_bias[j] = sum of dy[j].
// Those column sums go through column_sums(): per thread over its own rows, in float
// over blocks of rows, then in double.
void layer_norm_backward(int64_t M, int64_t D, const float* dy, const float* x, const float* mean,
                         const float* rstd, const float* weight, float* dx, float* grad_weight,
                         float* grad_bias) {
  CN_CHECK(M >= 0 && D >= 0, "layer_norm: negative size, rows=", M, ", normalized size=", D);
  const int64_t numel = checked_mul(M, D, "layer_norm input size");
  const Kernels& k = kernels();
  const bool affine_grads = grad_weight || grad_bias;
  const int threads = numel >= kParallelMinElements ? num_threads() : 1;
  // Only the affine gradients need column sums (n = 0 columns otherwise).
  const int64_t columns = affine_grads && numel > 0 ? D : 0;
  std::vector<double> dw(columns), db(columns);
  column_sums(M, columns, threads,
              [&](int64_t row, float* bw, float* bb) {
                const float *dyr = dy + row * D, *xr = x + row * D;
                const float mu = mean[row];
                const double r = rstd[row];
                const Sums g = k.grad_sums(dyr, xr, weight, D, mu);
                const double b = D > 0 ? -r * r * r * g.second / D : 0.0;
                const double cst = D > 0 ? -r * g.first / D : 0.0;
                k.grad_input(dyr, xr, weight, dx + row * D, D, static_cast<float>(r),
                             static_cast<float>(b), mu, static_cast<float>(cst));
                if (columns) k.accumulate_affine_grads(dyr, xr, D, mu, static_cast<float>(r), bw, bb);
              },
              dw.data(), db.data());
  for (int64_t j = 0; affine_grads && j < D; ++j) {
    if (grad_weight) grad_weight[j] = columns ? static_cast<float>(dw[j]) : 0.0f;
    if (grad_bias) grad_bias[j] = columns ? static_cast<float>(db[j]) : 0.0f;
  }
}

}  // namespace norm
}  // namespace cnnnative
