// Local response normalisation across channels, PyTorch semantics:
//   scale_c = k + alpha/size * sum_{c' in [c - size/2, c + (size-1)/2]} x_c'^2,  y_c = x_c * scale_c^-beta
// Backward: dx_j = dy_j * scale_j^-beta - 2*alpha*beta/size * x_j * sum_{c: j in window(c)} dy_c*y_c/scale_c.
// One thread per element, looping over the window (size is small).
#include "check.h"
#include "kernels.h"

namespace cnnnative {
namespace cuda {

namespace {

__global__ void lrn_forward_kernel(const float* __restrict__ x, float* __restrict__ y, float* __restrict__ scale,
                                   int64_t C, int64_t HW, int64_t size, float alpha, float beta, float k,
                                   int64_t total) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t c = (i / HW) % C, base = i - c * HW;  // base: channel 0 of this pixel
    const int64_t lo = c - size / 2 < 0 ? 0 : c - size / 2;
    const int64_t hi = c + (size - 1) / 2 >= C ? C - 1 : c + (size - 1) / 2;
    float sum = 0.0f;
    for (int64_t cc = lo; cc <= hi; ++cc) {
      const float v = x[base + cc * HW];
      sum += v * v;
    }
    const float s = k + alpha / static_cast<float>(size) * sum;
    scale[i] = s;
    y[i] = x[i] * powf(s, -beta);
  }
}

__global__ void lrn_backward_kernel(const float* __restrict__ dy, const float* __restrict__ x,
                                    const float* __restrict__ y, const float* __restrict__ scale,
                                    float* __restrict__ dx, int64_t C, int64_t HW, int64_t size, float alpha,
                                    float beta, int64_t total) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t j = (i / HW) % C, base = i - j * HW;
    const int64_t lo = j - (size - 1) / 2 < 0 ? 0 : j - (size - 1) / 2;
    const int64_t hi = j + size / 2 >= C ? C - 1 : j + size / 2;
    float acc = 0.0f;
    for (int64_t c = lo; c <= hi; ++c) {
      const int64_t e = base + c * HW;
      acc += dy[e] * y[e] / scale[e];
    }
    dx[i] = dy[i] * powf(scale[i], -beta) - 2.0f * alpha * beta / static_cast<float>(size) * x[i] * acc;
  }
}

}  // namespace

void lrn_forward(const float* x, float* y, float* scale, int64_t N, int64_t C, int64_t HW, int64_t size,
                 float alpha, float beta, float k) {
  const int64_t total = N * C * HW;
  if (total == 0) return;
  lrn_forward_kernel<<<blocks_for(total, 256), 256>>>(x, y, scale, C, HW, size, alpha, beta, k, total);
  check_launch("local_response_norm forward");
}

void lrn_backward(const float* dy, const float* x, const float* y, const float* scale, float* dx, int64_t N,
                  int64_t C, int64_t HW, int64_t size, float alpha, float beta) {
  const int64_t total = N * C * HW;
  if (total == 0) return;
  lrn_backward_kernel<<<blocks_for(total, 256), 256>>>(dy, x, y, scale, dx, C, HW, size, alpha, beta, total);
  check_launch("local_response_norm backward");
}

}  // namespace cuda
}  // namespace cnnnative
