// Fully connected layer: y (N, out) = x (N, in) @ W (out, in)^T + b, and its gradients.
// The products run on sgemm; the bias add and the bias gradient (column sums) are small
// per-ISA kernels shared out across threads.
#pragma once
#include <cstdint>

namespace cnnnative {

struct BiasKernels {
  // y[r, c] += b[c] for rows [0, rows) of a (rows, cols) row-major array.
  void (*add_rows)(float* y, const float* b, int64_t rows, int64_t cols);
  // out[c - c0] = sum over rows of g[r, c], c in [c0, c1).
  void (*column_sums)(const float* g, int64_t rows, int64_t cols, int64_t c0, int64_t c1, float* out);
};

extern const BiasKernels bias_kernels_scalar;
extern const BiasKernels bias_kernels_avx2;
extern const BiasKernels bias_kernels_avx512;

// bias may be null. All arrays row-major, C-contiguous.
void linear_forward(const float* x, const float* w, const float* bias, float* y, int64_t N, int64_t in,
                    int64_t out);
// gx (N, in), gw (out, in), gb (out) — any of them may be null (not wanted).
void linear_backward(const float* gy, const float* x, const float* w, float* gx, float* gw, float* gb,
                     int64_t N, int64_t in, int64_t out);

}  // namespace cnnnative
