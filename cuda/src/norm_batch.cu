// Batch normalisation over (N, HW) per channel. Statistics: one block per channel, two
// passes (mean, then the centred sum of squares) with double accumulators, so large
// batches lose no precision. Normalisation: an elementwise grid-stride kernel.
#include "check.h"
#include "cnnnative/errors.h"
#include "kernels.h"
#include "reduce.cuh"

namespace cnnnative {
namespace cuda {

namespace {

#define CNC_CHANNEL_LOOP(j, count) for (int64_t j = threadIdx.x; j < (count); j += kReduceThreads)

__device__ inline int64_t nchw_index(int64_t j, int64_t c, int64_t C, int64_t HW) {
  return (j / HW * C + c) * HW + j % HW;  // j runs over (n, hw) of channel c
}

__global__ void batch_stats_kernel(const float* __restrict__ x, float* mean_out, float* invstd_out,
                                   float* running_mean, float* running_var, int64_t N, int64_t C,
                                   int64_t HW, float momentum, float eps) {
  __shared__ double scratch[kReduceThreads];
  const int64_t c = blockIdx.x, count = N * HW;
  double s = 0.0;
  CNC_CHANNEL_LOOP(j, count) s += x[nchw_index(j, c, C, HW)];
  const double mean = block_sum(s, scratch) / static_cast<double>(count);
  double q = 0.0;
  CNC_CHANNEL_LOOP(j, count) {
    const double d = x[nchw_index(j, c, C, HW)] - mean;
    q += d * d;
  }
  const double var = block_sum(q, scratch) / static_cast<double>(count);  // biased, for normalising
  if (threadIdx.x == 0) {
    mean_out[c] = static_cast<float>(mean);
    invstd_out[c] = static_cast<float>(1.0 / sqrt(var + static_cast<double>(eps)));
    if (running_mean) running_mean[c] = (1.0f - momentum) * running_mean[c] + momentum * static_cast<float>(mean);
    if (running_var) {
      const double unbiased = count > 1 ? var * count / (count - 1) : var;
      running_var[c] = (1.0f - momentum) * running_var[c] + momentum * static_cast<float>(unbiased);
    }
  }
}

__global__ void eval_stats_kernel(const float* running_mean, const float* running_var, float* mean,
                                  float* invstd, int64_t C, float eps) {
  const int64_t c = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (c < C) {
    mean[c] = running_mean[c];
    invstd[c] = rsqrtf(running_var[c] + eps);
  }
}

__global__ void normalize_kernel(const float* __restrict__ x, const float* __restrict__ weight,
                                 const float* __restrict__ bias, const float* __restrict__ mean,
                                 const float* __restrict__ invstd, float* __restrict__ y, int64_t C,
                                 int64_t HW, int64_t total) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t c = (i / HW) % C;
    const float w = weight ? weight[c] : 1.0f, b = bias ? bias[c] : 0.0f;
    y[i] = (x[i] - mean[c]) * invstd[c] * w + b;
  }
}

// Per channel: sum(dy) and sum(dy * xhat); writes dweight/dbias and keeps both sums for dx.
__global__ void batch_backward_sums_kernel(const float* __restrict__ dy, const float* __restrict__ x,
                                           const float* mean, const float* invstd, float* sum_dy,
                                           float* sum_dy_xhat, float* dweight, float* dbias, int64_t N,
                                           int64_t C, int64_t HW) {
  __shared__ double scratch[kReduceThreads];
  const int64_t c = blockIdx.x, count = N * HW;
  const double m = mean[c], is = invstd[c];
  double a = 0.0, b = 0.0;
  CNC_CHANNEL_LOOP(j, count) {
    const int64_t i = nchw_index(j, c, C, HW);
    a += dy[i];
    b += dy[i] * (x[i] - m) * is;
  }
  a = block_sum(a, scratch);
  b = block_sum(b, scratch);
  if (threadIdx.x == 0) {
    sum_dy[c] = static_cast<float>(a);
    sum_dy_xhat[c] = static_cast<float>(b);
    if (dbias) dbias[c] = static_cast<float>(a);
    if (dweight) dweight[c] = static_cast<float>(b);
  }
}

__global__ void batch_backward_input_kernel(const float* __restrict__ dy, const float* __restrict__ x,
                                            const float* weight, const float* mean, const float* invstd,
                                            const float* sum_dy, const float* sum_dy_xhat,
                                            float* __restrict__ dx, int64_t C, int64_t HW, int64_t count,
                                            int64_t total, bool training) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t c = (i / HW) % C;
    const float w = weight ? weight[c] : 1.0f;
    if (!training) {
      dx[i] = dy[i] * w * invstd[c];
      continue;
    }
    const float xhat = (x[i] - mean[c]) * invstd[c];
    const float inv_count = 1.0f / static_cast<float>(count);
    dx[i] = w * invstd[c] * (dy[i] - sum_dy[c] * inv_count - xhat * sum_dy_xhat[c] * inv_count);
  }
}

}  // namespace

void batch_norm_forward_train(const float* x, const float* weight, const float* bias, float* y, float* mean,
                              float* invstd, float* running_mean, float* running_var, int64_t N, int64_t C,
                              int64_t HW, float momentum, float eps) {
  if (C == 0) return;
  CN_CHECK(C <= 2147483647LL, "batch_norm: too many channels (", C, ")");
  CN_CHECK(N * HW > 0, "batch_norm: training needs at least one value per channel");
  batch_stats_kernel<<<static_cast<unsigned>(C), kReduceThreads>>>(x, mean, invstd, running_mean, running_var,
                                                                  N, C, HW, momentum, eps);
  check_launch("batch_norm statistics");
  const int64_t total = N * C * HW;
  normalize_kernel<<<blocks_for(total, 256), 256>>>(x, weight, bias, mean, invstd, y, C, HW, total);
  check_launch("batch_norm normalize");
}

void batch_norm_forward_eval(const float* x, const float* weight, const float* bias, float* y, float* mean,
                             float* invstd, const float* running_mean, const float* running_var, int64_t N,
                             int64_t C, int64_t HW, float eps) {
  if (C == 0) return;
  eval_stats_kernel<<<blocks_for(C, 256), 256>>>(running_mean, running_var, mean, invstd, C, eps);
  check_launch("batch_norm eval statistics");
  const int64_t total = N * C * HW;
  if (total == 0) return;
  normalize_kernel<<<blocks_for(total, 256), 256>>>(x, weight, bias, mean, invstd, y, C, HW, total);
  check_launch("batch_norm normalize");
}

void batch_norm_backward(const float* dy, const float* x, const float* weight, const float* mean,
                         const float* invstd, float* dx, float* dweight, float* dbias, int64_t N, int64_t C,
                         int64_t HW, bool training, float* scratch_2c) {
  if (C == 0) return;
  CN_CHECK(C <= 2147483647LL, "batch_norm_backward: too many channels (", C, ")");
  float* sum_dy = scratch_2c;
  float* sum_dy_xhat = scratch_2c + C;
  batch_backward_sums_kernel<<<static_cast<unsigned>(C), kReduceThreads>>>(dy, x, mean, invstd, sum_dy,
                                                                          sum_dy_xhat, dweight, dbias, N, C, HW);
  check_launch("batch_norm_backward sums");
  const int64_t total = N * C * HW;
  if (total == 0) return;
  batch_backward_input_kernel<<<blocks_for(total, 256), 256>>>(dy, x, weight, mean, invstd, sum_dy, sum_dy_xhat,
                                                               dx, C, HW, N * HW, total, training);
  check_launch("batch_norm_backward input");
}

}  // namespace cuda
}  // namespace cnnnative
