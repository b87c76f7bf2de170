// Elementwise kernels: activations and their gradients, add (+relu), fill, scale, sum of
// squares, dropout and the SGD update. All grid-stride loops with int64 indices.
#include <cuda_runtime.h>

#include "check.h"
#include "kernels.h"

namespace cnnnative {
namespace cuda {

namespace {

#define CNC_GRID_STRIDE(i, total)                                                       \
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < (total); \
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)

__device__ inline float act_forward(Activation a, float x, float slope) {
  switch (a) {
    case Activation::relu: return x > 0.0f ? x : (x != x ? x : 0.0f);  // NaN stays NaN
    case Activation::relu6: return x != x ? x : fminf(fmaxf(x, 0.0f), 6.0f);
    case Activation::leaky_relu: return x > 0.0f ? x : x * slope;
    case Activation::sigmoid: return 1.0f / (1.0f + expf(-x));
    case Activation::tanh: return tanhf(x);
  }
  return x;
}

__device__ inline float act_backward(Activation a, float g, float saved, float slope) {
  switch (a) {
    case Activation::relu: return saved > 0.0f ? g : 0.0f;
    case Activation::relu6: return (saved > 0.0f && saved < 6.0f) ? g : 0.0f;
    case Activation::leaky_relu: return saved > 0.0f ? g : g * slope;
    case Activation::sigmoid: return g * saved * (1.0f - saved);
    case Activation::tanh: return g * (1.0f - saved * saved);
  }
  return g;
}

// No __restrict__ on the activation kernels: out= may be the input (in-place layers).
__global__ void act_forward_kernel(Activation a, const float* x, float* y, int64_t n, float slope) {
  CNC_GRID_STRIDE(i, n) y[i] = act_forward(a, x[i], slope);
}

__global__ void act_backward_kernel(Activation a, const float* g, const float* saved, float* dx, int64_t n,
                                    float slope) {
  CNC_GRID_STRIDE(i, n) dx[i] = act_backward(a, g[i], saved[i], slope);
}

__global__ void add_kernel(const float* a, const float* b, float* y, int64_t n, bool relu) {
  CNC_GRID_STRIDE(i, n) {
    const float v = a[i] + b[i];
    y[i] = relu ? act_forward(Activation::relu, v, 0.0f) : v;
  }
}

__global__ void fill_kernel(float* y, int64_t n, float value) {
  CNC_GRID_STRIDE(i, n) y[i] = value;
}

__global__ void scale_kernel(float* x, int64_t n, float alpha) {
  CNC_GRID_STRIDE(i, n) x[i] *= alpha;
}

__global__ void sum_of_squares_kernel(const float* __restrict__ x, int64_t n, double* out) {
  __shared__ double partial[256];
  double s = 0.0;
  CNC_GRID_STRIDE(i, n) s += static_cast<double>(x[i]) * x[i];
  partial[threadIdx.x] = s;
  __syncthreads();
  for (int stride = blockDim.x / 2; stride > 0; stride /= 2) {
    if (threadIdx.x < stride) partial[threadIdx.x] += partial[threadIdx.x + stride];
    __syncthreads();
  }
  if (threadIdx.x == 0) atomicAdd(out, partial[0]);
}

// The CPU's counter-based hash (cpp/src/dropout/dropout.h), so a seed gives the same mask
// on both devices.
__device__ inline uint32_t dropout_hash32(uint32_t x) {
  x ^= x >> 16;
  x *= 0x7feb352dU;
  x ^= x >> 15;
  x *= 0x846ca68bU;
  x ^= x >> 16;
  return x;
}

__global__ void dropout_forward_kernel(const float* __restrict__ x, float* __restrict__ y,
                                       uint8_t* __restrict__ mask, int64_t n, uint32_t k0, uint32_t k1,
                                       uint32_t threshold, float scale) {
  CNC_GRID_STRIDE(i, n) {
    const uint32_t lo = static_cast<uint32_t>(i), hi = static_cast<uint32_t>(static_cast<uint64_t>(i) >> 32);
    const uint32_t k1_hi = dropout_hash32(k1 ^ (hi * 0x9e3779b9U));
    const uint32_t h = dropout_hash32(dropout_hash32(lo ^ k0) + k1_hi);
    const bool keep = (h >> 8) >= threshold;
    mask[i] = keep ? 1 : 0;
    y[i] = x[i] * (keep ? scale : 0.0f);
  }
}

__global__ void dropout_backward_kernel(const float* __restrict__ g, const uint8_t* __restrict__ mask,
                                        float* __restrict__ dx, int64_t n, float scale) {
  CNC_GRID_STRIDE(i, n) dx[i] = g[i] * (mask[i] ? scale : 0.0f);
}

__global__ void sgd_kernel(float* __restrict__ p, const float* __restrict__ grad, float* __restrict__ buf, int64_t n,
                           float lr, float momentum, float dampening, float weight_decay, bool nesterov,
                           bool first_step) {
  CNC_GRID_STRIDE(i, n) {
    float d = grad[i];
    if (weight_decay != 0.0f) d += weight_decay * p[i];
    if (momentum != 0.0f) {
      const float b = first_step ? d : momentum * buf[i] + (1.0f - dampening) * d;
      buf[i] = b;
      d = nesterov ? d + momentum * b : b;
    }
    p[i] -= lr * d;
  }
}

}  // namespace

void activation_forward(Activation a, const float* x, float* y, int64_t n, float slope) {
  if (n == 0) return;
  act_forward_kernel<<<blocks_for(n, 256), 256>>>(a, x, y, n, slope);
  check_launch("activation forward");
}

void activation_backward(Activation a, const float* dy, const float* saved, float* dx, int64_t n, float slope) {
  if (n == 0) return;
  act_backward_kernel<<<blocks_for(n, 256), 256>>>(a, dy, saved, dx, n, slope);
  check_launch("activation backward");
}

void add(const float* a, const float* b, float* y, int64_t n, bool relu) {
  if (n == 0) return;
  add_kernel<<<blocks_for(n, 256), 256>>>(a, b, y, n, relu);
  check_launch(relu ? "add_relu" : "add");
}

void fill(float* y, int64_t n, float value) {
  if (n == 0) return;
  fill_kernel<<<blocks_for(n, 256), 256>>>(y, n, value);
  check_launch("fill");
}

void scale_inplace(float* x, int64_t n, float alpha) {
  if (n == 0) return;
  scale_kernel<<<blocks_for(n, 256), 256>>>(x, n, alpha);
  check_launch("scale_");
}

void sum_of_squares(const float* x, int64_t n, double* out) {
  if (n == 0) return;
  sum_of_squares_kernel<<<blocks_for(n, 256, 4096), 256>>>(x, n, out);
  check_launch("sum_of_squares");
}

void dropout_forward(const float* x, float* y, uint8_t* mask, int64_t n, uint32_t k0, uint32_t k1,
                     uint32_t threshold, float scale) {
  if (n == 0) return;
  dropout_forward_kernel<<<blocks_for(n, 256), 256>>>(x, y, mask, n, k0, k1, threshold, scale);
  check_launch("dropout forward");
}

void dropout_backward(const float* dy, const uint8_t* mask, float* dx, int64_t n, float scale) {
  if (n == 0) return;
  dropout_backward_kernel<<<blocks_for(n, 256), 256>>>(dy, mask, dx, n, scale);
  check_launch("dropout backward");
}

void sgd_step(float* param, const float* grad, float* momentum_buffer, int64_t n, float lr, float momentum,
              float dampening, float weight_decay, bool nesterov, bool first_step) {
  if (n == 0) return;
  sgd_kernel<<<blocks_for(n, 256), 256>>>(param, grad, momentum_buffer, n, lr, momentum, dampening, weight_decay,
                                          nesterov, first_step);
  check_launch("sgd_step");
}

}  // namespace cuda
}  // namespace cnnnative
