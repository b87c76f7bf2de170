// Softmax / log-softmax along one axis of an (outer, dim, inner) view, and cross-entropy.
// One thread per (outer, inner) line walking the reduced axis: adjacent threads take
// adjacent inner positions, so reads are coalesced whenever inner > 1. Max-subtracted
// exponentials, so no overflow.
#include <cuda_runtime.h>

#include "check.h"
#include "kernels.h"

namespace cnnnative {
namespace cuda {

namespace {

__global__ void softmax_forward_kernel(const float* __restrict__ x, float* __restrict__ y, int64_t outer,
                                       int64_t dim, int64_t inner, bool log) {
  const int64_t lines = outer * inner;
  for (int64_t t = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; t < lines;
       t += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t o = t / inner, in = t % inner;
    const float* xl = x + o * dim * inner + in;
    float* yl = y + o * dim * inner + in;
    float mx = -INFINITY;
    for (int64_t d = 0; d < dim; ++d) mx = fmaxf(mx, xl[d * inner]);
    float sum = 0.0f;
    for (int64_t d = 0; d < dim; ++d) sum += expf(xl[d * inner] - mx);
    if (log) {
      const float lse = logf(sum);
      for (int64_t d = 0; d < dim; ++d) yl[d * inner] = xl[d * inner] - mx - lse;
    } else {
      const float inv = 1.0f / sum;
      for (int64_t d = 0; d < dim; ++d) yl[d * inner] = expf(xl[d * inner] - mx) * inv;
    }
  }
}

__global__ void softmax_backward_kernel(const float* __restrict__ dy, const float* __restrict__ y,
                                        float* __restrict__ dx, int64_t outer, int64_t dim, int64_t inner,
                                        bool log) {
  const int64_t lines = outer * inner;
  for (int64_t t = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; t < lines;
       t += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t off = t / inner * dim * inner + t % inner;
    float s = 0.0f;
    for (int64_t d = 0; d < dim; ++d) {
      const int64_t e = off + d * inner;
      s += log ? dy[e] : dy[e] * y[e];
    }
    for (int64_t d = 0; d < dim; ++d) {
      const int64_t e = off + d * inner;
      dx[e] = log ? dy[e] - expf(y[e]) * s : y[e] * (dy[e] - s);
    }
  }
}

__global__ void cross_entropy_kernel(const float* __restrict__ logits, const int64_t* __restrict__ target,
                                     float* __restrict__ loss, float* __restrict__ grad, int64_t N, int64_t C,
                                     float grad_scale, const float* __restrict__ row_scale, int* bad) {
  for (int64_t row = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; row < N;
       row += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const float* x = logits + row * C;
    const int64_t t = target[row];
    if (t < 0 || t >= C) {
      atomicAdd(bad, 1);
      loss[row] = NAN;
      if (grad)
        for (int64_t c = 0; c < C; ++c) grad[row * C + c] = NAN;
      continue;
    }
    float mx = -INFINITY;
    for (int64_t c = 0; c < C; ++c) mx = fmaxf(mx, x[c]);
    float sum = 0.0f;
    for (int64_t c = 0; c < C; ++c) sum += expf(x[c] - mx);
    const float lse = mx + logf(sum);
    loss[row] = lse - x[t];
    if (grad) {
      const float s = grad_scale * (row_scale ? row_scale[row] : 1.0f);
      for (int64_t c = 0; c < C; ++c) grad[row * C + c] = (expf(x[c] - lse) - (c == t ? 1.0f : 0.0f)) * s;
    }
  }
}

}  // namespace

void softmax_forward(const float* x, float* y, int64_t outer, int64_t dim, int64_t inner, bool log) {
  const int64_t lines = outer * inner;
  if (lines == 0 || dim == 0) return;
  softmax_forward_kernel<<<blocks_for(lines, 128), 128>>>(x, y, outer, dim, inner, log);
  check_launch(log ? "log_softmax forward" : "softmax forward");
}

void softmax_backward(const float* dy, const float* y, float* dx, int64_t outer, int64_t dim, int64_t inner,
                      bool log) {
  const int64_t lines = outer * inner;
  if (lines == 0 || dim == 0) return;
  softmax_backward_kernel<<<blocks_for(lines, 128), 128>>>(dy, y, dx, outer, dim, inner, log);
  check_launch(log ? "log_softmax backward" : "softmax backward");
}

void cross_entropy(const float* logits, const int64_t* target, float* loss, float* grad, int64_t N, int64_t C,
                   float grad_scale, const float* row_scale, int* bad) {
  if (N == 0) return;
  cross_entropy_kernel<<<blocks_for(N, 128), 128>>>(logits, target, loss, grad, N, C, grad_scale, row_scale, bad);
  check_launch("cross_entropy");
}

}  // namespace cuda
}  // namespace cnnnative
