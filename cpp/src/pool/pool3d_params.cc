// 3-D pooling shape rules (PyTorch's pool3d_shape_check), per axis as in 2-D.
#include "cnnnative/errors.h"
#include "pool/pool.h"
#include "pool/pool3d.h"

namespace cnnnative {

void validate_pool3d_params(Pool3dParams& p, const char* op) {
  CN_CHECK(p.N >= 0, op, ": batch size must be >= 0, got ", p.N);
  CN_CHECK(p.C >= 1 && p.D >= 1 && p.H >= 1 && p.W >= 1, op,
           ": input channels, depth, height and width must be >= 1, got (", p.N, ", ", p.C, ", ", p.D, ", ",
           p.H, ", ", p.W, ")");
  static const char* const kAxis[3] = {"depth", "height", "width"};
  const int64_t in[3] = {p.D, p.H, p.W};
  int64_t out[3];
  for (int a = 0; a < 3; ++a) {
    CN_CHECK(p.kernel[a] >= 1, op, ": kernel_size must be >= 1, got (", p.kernel[0], ", ", p.kernel[1], ", ",
             p.kernel[2], ")");
    CN_CHECK(p.stride[a] >= 1, op, ": stride must be >= 1, got (", p.stride[0], ", ", p.stride[1], ", ",
             p.stride[2], ")");
    CN_CHECK(p.dilation[a] >= 1, op, ": dilation must be >= 1, got (", p.dilation[0], ", ", p.dilation[1],
             ", ", p.dilation[2], ")");
    CN_CHECK(p.pad[a] >= 0 && p.pad[a] <= p.kernel[a] / 2, op,
             ": padding must be >= 0 and at most half the kernel size, got padding (", p.pad[0], ", ", p.pad[1],
             ", ", p.pad[2], ") for kernel_size (", p.kernel[0], ", ", p.kernel[1], ", ", p.kernel[2], ")");
  }
  for (int a = 0; a < 3; ++a)
    out[a] = pool_output_size(in[a], p.kernel[a], p.pad[a], p.stride[a], p.dilation[a], p.ceil_mode, op, kAxis[a]);
  p.OD = out[0];
  p.OH = out[1];
  p.OW = out[2];
  checked_numel({p.N, p.C, p.OD, p.OH, p.OW}, "pooling output size");
  checked_numel({p.N, p.C, p.D, p.H, p.W}, "pooling input size");
}

}  // namespace cnnnative
