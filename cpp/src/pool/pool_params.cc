// Pooling shape rules (PyTorch's pooling_output_shape and pool2d_shape_check).
#include "cnnnative/errors.h"
#include "pool/pool.h"

namespace cnnnative {
namespace {

int64_t floor_div(int64_t a, int64_t b) {  // b > 0
  int64_t q = a / b;
  if ((a % b != 0) && (a < 0)) --q;
  return q;
}

}  // namespace

int64_t pool_output_size(int64_t in, int64_t k, int64_t pad, int64_t stride, int64_t dilation, bool ceil_mode,
                         const char* op, const char* axis) {
  // in + 2*pad - dilation*(k-1) - 1 (+ stride-1 in ceil mode), in checked int64.
  const int64_t span = checked_add(checked_mul(dilation, k - 1, op), 1, op);
  int64_t num = checked_add(in, checked_mul(2, pad, op), op) - span;
  if (ceil_mode) num = checked_add(num, stride - 1, op);
  int64_t out = floor_div(num, stride) + 1;
  // The last window must start inside the input or the left padding.
  if (ceil_mode && (out - 1) * stride >= in + pad) --out;
  CN_CHECK(out >= 1, op, ": output ", axis, " would be ", out, " (input ", axis, " ", in,
           ", kernel ", k, ", stride ", stride, ", padding ", pad, ", dilation ", dilation,
           "); the output is too small");
  return out;
}

void validate_pool_params(PoolParams& p, const char* op) {
  CN_CHECK(p.N >= 0, op, ": batch size must be >= 0, got ", p.N);
  CN_CHECK(p.C >= 1 && p.H >= 1 && p.W >= 1, op, ": input channels, height and width must be >= 1, got (",
           p.N, ", ", p.C, ", ", p.H, ", ", p.W, ")");
  CN_CHECK(p.kernel_h >= 1 && p.kernel_w >= 1, op, ": kernel_size must be >= 1, got (", p.kernel_h,
           ", ", p.kernel_w, ")");
  CN_CHECK(p.stride_h >= 1 && p.stride_w >= 1, op, ": stride must be >= 1, got (", p.stride_h, ", ",
           p.stride_w, ")");
  CN_CHECK(p.dilation_h >= 1 && p.dilation_w >= 1, op, ": dilation must be >= 1, got (", p.dilation_h,
           ", ", p.dilation_w, ")");
  CN_CHECK(p.pad_h >= 0 && p.pad_w >= 0, op, ": padding must be >= 0, got (", p.pad_h, ", ", p.pad_w, ")");
  CN_CHECK(p.pad_h <= p.kernel_h / 2 && p.pad_w <= p.kernel_w / 2, op,
           ": padding must be at most half the kernel size, got padding (", p.pad_h, ", ", p.pad_w,
           ") for kernel_size (", p.kernel_h, ", ", p.kernel_w, ")");
  p.OH = pool_output_size(p.H, p.kernel_h, p.pad_h, p.stride_h, p.dilation_h, p.ceil_mode, op, "height");
  p.OW = pool_output_size(p.W, p.kernel_w, p.pad_w, p.stride_w, p.dilation_w, p.ceil_mode, op, "width");
  checked_numel({p.N, p.C, p.OH, p.OW}, "pooling output size");
  checked_numel({p.N, p.C, p.H, p.W}, "pooling input size");
}

}  // namespace cnnnative
