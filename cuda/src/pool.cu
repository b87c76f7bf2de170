// Pooling, NCHW, PyTorch semantics (see cpp/src/pool/pool.h): one thread per output
// element forward; the max backward scatters with atomics into a zeroed gradient (windows
// may overlap), the average backward gathers (one thread per input element, no atomics).
#include <cuda_runtime.h>

#include "check.h"
#include "kernels.h"

namespace cnnnative {
namespace cuda {

namespace {

#define CNC_GRID_STRIDE(i, total)                                                       \
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < (total); \
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)

__global__ void max_forward_kernel(PoolParams p, const float* __restrict__ x, float* __restrict__ y,
                                   int64_t* __restrict__ indices, int64_t total) {
  CNC_GRID_STRIDE(i, total) {
    const int64_t ow = i % p.OW, oh = (i / p.OW) % p.OH, plane = i / (p.OW * p.OH);
    const float* in = x + plane * p.H * p.W;
    float best = -INFINITY;
    int64_t best_idx = -1;
    for (int64_t r = 0; r < p.kernel_h; ++r) {
      const int64_t ih = oh * p.stride_h - p.pad_h + r * p.dilation_h;
      if (ih < 0 || ih >= p.H) continue;
      for (int64_t s = 0; s < p.kernel_w; ++s) {
        const int64_t iw = ow * p.stride_w - p.pad_w + s * p.dilation_w;
        if (iw < 0 || iw >= p.W) continue;
        const float v = in[ih * p.W + iw];
        // First maximum in row-major order; every NaN takes over (so the last NaN's
        // index is kept), as PyTorch and the CPU kernels (cpp/src/pool/pool_body.inl) do.
        if (best_idx < 0 || v > best || isnan(v)) {
          best = v;
          best_idx = ih * p.W + iw;
        }
      }
    }
    y[i] = best;
    if (indices) indices[i] = best_idx < 0 ? 0 : best_idx;
  }
}

__global__ void max_backward_kernel(PoolParams p, const float* __restrict__ dy,
                                    const int64_t* __restrict__ indices, float* __restrict__ dx,
                                    int* bad, int64_t total) {
  const int64_t HW = p.H * p.W;
  CNC_GRID_STRIDE(i, total) {
    const int64_t plane = i / (p.OW * p.OH);
    const int64_t idx = indices[i];
    if (idx < 0 || idx >= HW) {
      atomicAdd(bad, 1);
      continue;
    }
    atomicAdd(dx + plane * HW + idx, dy[i]);
  }
}

// Window [start, end) along one axis clipped to the padded input; divisor pieces.
struct Window {
  int64_t start, end, padded_len;
};
__device__ inline Window avg_window(int64_t o, int64_t stride, int64_t pad, int64_t k, int64_t in) {
  int64_t start = o * stride - pad;
  int64_t end = start + k < in + pad ? start + k : in + pad;
  const int64_t padded_len = end - start;
  if (start < 0) start = 0;
  if (end > in) end = in;
  return {start, end, padded_len};
}

__global__ void avg_forward_kernel(PoolParams p, const float* __restrict__ x, float* __restrict__ y,
                                   int64_t total) {
  CNC_GRID_STRIDE(i, total) {
    const int64_t ow = i % p.OW, oh = (i / p.OW) % p.OH, plane = i / (p.OW * p.OH);
    const float* in = x + plane * p.H * p.W;
    const Window wh = avg_window(oh, p.stride_h, p.pad_h, p.kernel_h, p.H);
    const Window ww = avg_window(ow, p.stride_w, p.pad_w, p.kernel_w, p.W);
    float sum = 0.0f;
    for (int64_t ih = wh.start; ih < wh.end; ++ih)
      for (int64_t iw = ww.start; iw < ww.end; ++iw) sum += in[ih * p.W + iw];
    const int64_t count = p.count_include_pad ? wh.padded_len * ww.padded_len
                                              : (wh.end - wh.start) * (ww.end - ww.start);
    y[i] = count > 0 ? sum / static_cast<float>(count) : 0.0f;
  }
}

__global__ void avg_backward_kernel(PoolParams p, const float* __restrict__ dy, float* __restrict__ dx,
                                    int64_t total) {
  CNC_GRID_STRIDE(i, total) {
    const int64_t w = i % p.W, h = (i / p.W) % p.H, plane = i / (p.W * p.H);
    const float* g = dy + plane * p.OH * p.OW;
    // Output rows whose window [oh*s - pad, oh*s - pad + k) contains h.
    const int64_t oh_lo = h + p.pad_h < p.kernel_h ? 0 : (h + p.pad_h - p.kernel_h) / p.stride_h + 1;
    const int64_t oh_hi = (h + p.pad_h) / p.stride_h + 1 < p.OH ? (h + p.pad_h) / p.stride_h + 1 : p.OH;
    const int64_t ow_lo = w + p.pad_w < p.kernel_w ? 0 : (w + p.pad_w - p.kernel_w) / p.stride_w + 1;
    const int64_t ow_hi = (w + p.pad_w) / p.stride_w + 1 < p.OW ? (w + p.pad_w) / p.stride_w + 1 : p.OW;
    float sum = 0.0f;
    for (int64_t oh = oh_lo; oh < oh_hi; ++oh) {
      const Window wh = avg_window(oh, p.stride_h, p.pad_h, p.kernel_h, p.H);
      if (h < wh.start || h >= wh.end) continue;
      for (int64_t ow = ow_lo; ow < ow_hi; ++ow) {
        const Window ww = avg_window(ow, p.stride_w, p.pad_w, p.kernel_w, p.W);
        if (w < ww.start || w >= ww.end) continue;
        const int64_t count = p.count_include_pad ? wh.padded_len * ww.padded_len
                                                  : (wh.end - wh.start) * (ww.end - ww.start);
        sum += g[oh * p.OW + ow] / static_cast<float>(count);
      }
    }
    dx[i] = sum;
  }
}

__global__ void global_avg_forward_kernel(const float* __restrict__ x, float* __restrict__ y, int64_t hw) {
  // One block per plane.
  const float* in = x + static_cast<int64_t>(blockIdx.x) * hw;
  float sum = 0.0f;
  for (int64_t j = threadIdx.x; j < hw; j += blockDim.x) sum += in[j];
  __shared__ float partial[256];
  partial[threadIdx.x] = sum;
  __syncthreads();
  for (int stride = blockDim.x / 2; stride > 0; stride /= 2) {
    if (threadIdx.x < stride) partial[threadIdx.x] += partial[threadIdx.x + stride];
    __syncthreads();
  }
  if (threadIdx.x == 0) y[blockIdx.x] = partial[0] / static_cast<float>(hw);
}

__global__ void global_avg_backward_kernel(const float* __restrict__ dy, float* __restrict__ dx, int64_t hw,
                                           int64_t total) {
  CNC_GRID_STRIDE(i, total) dx[i] = dy[i / hw] / static_cast<float>(hw);
}

}  // namespace

void max_pool2d_forward(const PoolParams& p, const float* x, float* y, int64_t* indices) {
  const int64_t total = p.N * p.C * p.OH * p.OW;
  if (total == 0) return;
  max_forward_kernel<<<blocks_for(total, 256), 256>>>(p, x, y, indices, total);
  check_launch("max_pool2d_forward");
}

void max_pool2d_backward(const PoolParams& p, const float* dy, const int64_t* indices, float* dx, int* bad) {
  const int64_t in_total = p.N * p.C * p.H * p.W, total = p.N * p.C * p.OH * p.OW;
  if (in_total == 0) return;
  CNC_CUDA_CHECK(cudaMemsetAsync(dx, 0, static_cast<size_t>(in_total) * sizeof(float)));
  if (total == 0) return;
  max_backward_kernel<<<blocks_for(total, 256), 256>>>(p, dy, indices, dx, bad, total);
  check_launch("max_pool2d_backward");
}

void avg_pool2d_forward(const PoolParams& p, const float* x, float* y) {
  const int64_t total = p.N * p.C * p.OH * p.OW;
  if (total == 0) return;
  avg_forward_kernel<<<blocks_for(total, 256), 256>>>(p, x, y, total);
  check_launch("avg_pool2d_forward");
}

void avg_pool2d_backward(const PoolParams& p, const float* dy, float* dx) {
  const int64_t total = p.N * p.C * p.H * p.W;
  if (total == 0) return;
  avg_backward_kernel<<<blocks_for(total, 256), 256>>>(p, dy, dx, total);
  check_launch("avg_pool2d_backward");
}

void global_avg_pool2d_forward(const float* x, float* y, int64_t planes, int64_t hw) {
  if (planes == 0) return;
  if (planes > 2147483647LL) throw std::invalid_argument("global_avg_pool2d: too many planes");
  global_avg_forward_kernel<<<static_cast<unsigned>(planes), 256>>>(x, y, hw);
  check_launch("global_avg_pool2d_forward");
}

void global_avg_pool2d_backward(const float* dy, float* dx, int64_t planes, int64_t hw) {
  const int64_t total = planes * hw;
  if (total == 0) return;
  global_avg_backward_kernel<<<blocks_for(total, 256), 256>>>(dy, dx, hw, total);
  check_launch("global_avg_pool2d_backward");
}

}  // namespace cuda
}  // namespace cnnnative
