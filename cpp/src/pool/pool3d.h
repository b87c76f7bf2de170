// 3-D max and average pooling, NCDHW, forward and backward: PyTorch's MaxPool3d/AvgPool3d.
//
// The rules are the 2-D ones of pool/pool.h applied per axis (depth, height, width): output
// size, ceil_mode's dropped last window, padding at most half the kernel, first maximum
// in (d, h, w) order with NaN winning, indices flat in the input volume (d*H*W + h*W + w),
// average divisors clipped to the padded input or counting real elements only.
//
// Plain struct for the same reason as PoolParams: the per-ISA files include this header.
#pragma once
#include <cstdint>

namespace cnnnative {

struct Pool3dParams {
  int64_t N = 0, C = 0, D = 0, H = 0, W = 0;
  int64_t kernel[3] = {1, 1, 1};  // depth, height, width
  int64_t stride[3] = {1, 1, 1};
  int64_t pad[3] = {0, 0, 0};
  int64_t dilation[3] = {1, 1, 1};
  bool ceil_mode = false;
  bool count_include_pad = true;
  int64_t OD = 0, OH = 0, OW = 0;  // set by validate_pool3d_params
};

// Checks every constraint (ValueError / OverflowError naming the argument), fills OD/OH/OW.
void validate_pool3d_params(Pool3dParams& p, const char* op);

struct Pool3dKernels {
  // Output rows [r0, r1) of one volume, a row being one (od, oh) pair (r = od*OH + oh).
  // idx may be null (no indices wanted).
  void (*max_forward)(const Pool3dParams& p, const float* in, float* out, int64_t* idx, int64_t r0, int64_t r1);
  void (*avg_forward)(const Pool3dParams& p, const float* in, float* out, int64_t r0, int64_t r1);
  // One whole volume; gin is fully written. Indices must be in [0, D*H*W).
  void (*max_backward)(const Pool3dParams& p, const float* g, const int64_t* idx, float* gin);
  // scratch: OW floats.
  void (*avg_backward)(const Pool3dParams& p, const float* g, float* gin, float* scratch);
};

extern const Pool3dKernels pool3d_kernels_scalar;
extern const Pool3dKernels pool3d_kernels_avx2;
extern const Pool3dKernels pool3d_kernels_avx512;

// Threaded entry points over the whole batch (GIL released by the caller).
void max_pool3d_forward(const Pool3dParams& p, const float* x, float* y, int64_t* indices);
// Throws ValueError if an index is outside its volume (checked before anything is written).
void max_pool3d_backward(const Pool3dParams& p, const float* dy, const int64_t* indices, float* dx);
void avg_pool3d_forward(const Pool3dParams& p, const float* x, float* y);
void avg_pool3d_backward(const Pool3dParams& p, const float* dy, float* dx);

}  // namespace cnnnative
