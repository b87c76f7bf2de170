// Row normalisation: group, instance and layer norm (see kernels.h for the affine index).
// A row is contiguous (group norm: Cg*HW values of one sample; layer norm: the trailing
// normalized_shape), so one block per row reads it coalesced; two passes with double
// accumulators. Backward of the input per row; affine gradients by separate reductions.
#include "check.h"
#include "cnnnative/errors.h"
#include "kernels.h"
#include "reduce.cuh"

namespace cnnnative {
namespace cuda {

namespace {

__device__ inline int64_t affine_index(int64_t row, int64_t j, int64_t len, int64_t groups, int64_t div) {
  return ((row % groups) * len + j) / div;
}

__global__ void row_stats_normalize_kernel(const float* __restrict__ x, const float* __restrict__ weight,
                                           const float* __restrict__ bias, float* __restrict__ y, float* mean_out,
                                           float* rstd_out, int64_t len, int64_t groups, int64_t div, float eps) {
  __shared__ double scratch[kReduceThreads];
  const int64_t row = blockIdx.x;
  const float* in = x + row * len;
  float* out = y + row * len;
  double s = 0.0;
  for (int64_t j = threadIdx.x; j < len; j += kReduceThreads) s += in[j];
  const double mean = block_sum(s, scratch) / static_cast<double>(len);
  double q = 0.0;
  for (int64_t j = threadIdx.x; j < len; j += kReduceThreads) {
    const double d = in[j] - mean;
    q += d * d;
  }
  const double var = block_sum(q, scratch) / static_cast<double>(len);
  const float m = static_cast<float>(mean);
  const float r = static_cast<float>(1.0 / sqrt(var + static_cast<double>(eps)));
  if (threadIdx.x == 0) {
    mean_out[row] = m;
    rstd_out[row] = r;
  }
  for (int64_t j = threadIdx.x; j < len; j += kReduceThreads) {
    const int64_t a = affine_index(row, j, len, groups, div);
    out[j] = (in[j] - m) * r * (weight ? weight[a] : 1.0f) + (bias ? bias[a] : 0.0f);
  }
}

// dx = rstd * (g - mean(g) - xhat * mean(g * xhat)), g = dy * weight.
__global__ void row_backward_input_kernel(const float* __restrict__ dy, const float* __restrict__ x,
                                          const float* __restrict__ weight, const float* mean, const float* rstd,
                                          float* __restrict__ dx, int64_t len, int64_t groups, int64_t div) {
  __shared__ double scratch[kReduceThreads];
  const int64_t row = blockIdx.x;
  const float* g_row = dy + row * len;
  const float* x_row = x + row * len;
  const float m = mean[row], r = rstd[row];
  double sg = 0.0, sgx = 0.0;
  for (int64_t j = threadIdx.x; j < len; j += kReduceThreads) {
    const float g = g_row[j] * (weight ? weight[affine_index(row, j, len, groups, div)] : 1.0f);
    sg += g;
    sgx += g * (x_row[j] - m) * r;
  }
  const float mean_g = static_cast<float>(block_sum(sg, scratch) / len);
  const float mean_gx = static_cast<float>(block_sum(sgx, scratch) / len);
  for (int64_t j = threadIdx.x; j < len; j += kReduceThreads) {
    const float g = g_row[j] * (weight ? weight[affine_index(row, j, len, groups, div)] : 1.0f);
    const float xhat = (x_row[j] - m) * r;
    dx[row * len + j] = r * (g - mean_g - xhat * mean_gx);
  }
}

// One block per channel c of group norm: sums over samples n and positions hw.
__global__ void group_affine_kernel(const float* __restrict__ dy, const float* __restrict__ x, const float* mean,
                                    const float* rstd, float* dweight, float* dbias, int64_t N, int64_t C,
                                    int64_t HW, int64_t G) {
  __shared__ double scratch[kReduceThreads];
  const int64_t c = blockIdx.x, g = c / (C / G), count = N * HW;
  double sw = 0.0, sb = 0.0;
  for (int64_t j = threadIdx.x; j < count; j += kReduceThreads) {
    const int64_t n = j / HW, i = (n * C + c) * HW + j % HW, row = n * G + g;
    sb += dy[i];
    sw += dy[i] * (x[i] - mean[row]) * rstd[row];
  }
  sw = block_sum(sw, scratch);
  sb = block_sum(sb, scratch);
  if (threadIdx.x == 0) {
    if (dweight) dweight[c] = static_cast<float>(sw);
    if (dbias) dbias[c] = static_cast<float>(sb);
  }
}

// One thread per column of layer norm: sums over rows (adjacent threads read adjacent columns).
__global__ void layer_affine_kernel(const float* __restrict__ dy, const float* __restrict__ x, const float* mean,
                                    const float* rstd, float* dweight, float* dbias, int64_t rows, int64_t len) {
  for (int64_t j = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; j < len;
       j += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    double sw = 0.0, sb = 0.0;
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t i = r * len + j;
      sb += dy[i];
      sw += dy[i] * (x[i] - mean[r]) * rstd[r];
    }
    if (dweight) dweight[j] = static_cast<float>(sw);
    if (dbias) dbias[j] = static_cast<float>(sb);
  }
}

void check_rows(int64_t rows, const char* op) {
  CN_CHECK(rows <= 2147483647LL, op, ": too many rows (", rows, ")");
}

}  // namespace

void row_norm_forward(const float* x, const float* weight, const float* bias, float* y, float* mean, float* rstd,
                      int64_t rows, int64_t len, int64_t groups, int64_t div, float eps) {
  if (rows == 0) return;
  check_rows(rows, "normalization");
  CN_CHECK(len > 0, "normalization: rows must not be empty");
  row_stats_normalize_kernel<<<static_cast<unsigned>(rows), kReduceThreads>>>(x, weight, bias, y, mean, rstd, len,
                                                                             groups, div, eps);
  check_launch("row_norm_forward");
}

void row_norm_backward_input(const float* dy, const float* x, const float* weight, const float* mean,
                             const float* rstd, float* dx, int64_t rows, int64_t len, int64_t groups, int64_t div) {
  if (rows == 0 || len == 0) return;
  check_rows(rows, "normalization backward");
  row_backward_input_kernel<<<static_cast<unsigned>(rows), kReduceThreads>>>(dy, x, weight, mean, rstd, dx, len,
                                                                            groups, div);
  check_launch("row_norm_backward_input");
}

void group_norm_backward_affine(const float* dy, const float* x, const float* mean, const float* rstd,
                                float* dweight, float* dbias, int64_t N, int64_t C, int64_t HW, int64_t G) {
  if (C == 0 || (!dweight && !dbias)) return;
  check_rows(C, "group_norm_backward");
  group_affine_kernel<<<static_cast<unsigned>(C), kReduceThreads>>>(dy, x, mean, rstd, dweight, dbias, N, C, HW, G);
  check_launch("group_norm_backward_affine");
}

void layer_norm_backward_affine(const float* dy, const float* x, const float* mean, const float* rstd,
                                float* dweight, float* dbias, int64_t rows, int64_t len) {
  if (len == 0 || (!dweight && !dbias)) return;
  layer_affine_kernel<<<blocks_for(len, 256), 256>>>(dy, x, mean, rstd, dweight, dbias, rows, len);
  check_launch("layer_norm_backward_affine");
}

}  // namespace cuda
}  // namespace cnnnative
