// 2-D max and average pooling (and global average pooling), NCHW, forward and backward.
//
// Semantics follow PyTorch exactly: output size
//   out = floor_or_ceil((in + 2*pad - dilation*(k-1) - 1) / stride) + 1,
// where in ceil mode the last window must start inside the input or the left padding
// (otherwise it is dropped); max pooling returns the first maximum of each window in
// row-major order (NaN wins), as a flat index into its input plane; average pooling
// divides by the window size clipped to the padded input (count_include_pad) or by the
// number of real input elements in it.
//
// PoolParams is a plain struct (no member functions) because the per-ISA kernel files
// include this header: inline functions compiled with different ISA flags must not be
// shared between them.
#pragma once
#include <cstdint>

namespace cnnnative {

struct PoolParams {
  int64_t N = 0, C = 0, H = 0, W = 0;
  int64_t kernel_h = 1, kernel_w = 1;
  int64_t stride_h = 1, stride_w = 1;
  int64_t pad_h = 0, pad_w = 0;
  int64_t dilation_h = 1, dilation_w = 1;
  bool ceil_mode = false;
  bool count_include_pad = true;
  int64_t OH = 0, OW = 0;  // set by validate_pool_params
};

// Checks every constraint (ValueError / OverflowError naming the argument) and fills OH, OW.
// `op` names the calling function in messages.
void validate_pool_params(PoolParams& p, const char* op);

// One axis of the rule above (shared with the 3-D pooling); `axis` names it in messages.
int64_t pool_output_size(int64_t in, int64_t k, int64_t pad, int64_t stride, int64_t dilation, bool ceil_mode,
                         const char* op, const char* axis);

struct PoolKernels {
  // Output rows [oh0, oh1) of one plane. idx may be null (no indices wanted).
  void (*max_forward)(const PoolParams& p, const float* in, float* out, int64_t* idx, int64_t oh0,
                      int64_t oh1);
  void (*avg_forward)(const PoolParams& p, const float* in, float* out, int64_t oh0, int64_t oh1);
  // One whole plane; gin is fully written (zeroed first). Indices must be in [0, H*W).
  void (*max_backward)(const PoolParams& p, const float* g, const int64_t* idx, float* gin);
  // scratch: OW floats.
  void (*avg_backward)(const PoolParams& p, const float* g, float* gin, float* scratch);
  // planes of hw elements -> one mean per plane, and back.
  void (*global_forward)(const float* in, float* out, int64_t planes, int64_t hw);
  void (*global_backward)(const float* g, float* gin, int64_t planes, int64_t hw);
};

extern const PoolKernels pool_kernels_scalar;
extern const PoolKernels pool_kernels_avx2;
extern const PoolKernels pool_kernels_avx512;

// Threaded entry points over the whole batch (GIL released by the caller).
void max_pool2d_forward(const PoolParams& p, const float* x, float* y, int64_t* indices);
// Throws ValueError if an index is outside its plane (checked before anything is written).
void max_pool2d_backward(const PoolParams& p, const float* dy, const int64_t* indices, float* dx);
void avg_pool2d_forward(const PoolParams& p, const float* x, float* y);
void avg_pool2d_backward(const PoolParams& p, const float* dy, float* dx);
void global_avg_pool2d_forward(const float* x, float* y, int64_t planes, int64_t hw);
void global_avg_pool2d_backward(const float* dy, float* dx, int64_t planes, int64_t hw);

}  // namespace cnnnative
