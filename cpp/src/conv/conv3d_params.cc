// Conv3dParams::validate: every size constraint of a 3-D convolution, checked in int64
// before anything is allocated, with messages that name the argument and the sizes.
#include "cnnnative/errors.h"
#include "conv/conv3d.h"

namespace cnnnative {

void Conv3dParams::validate() const {
  static const char* const kAxis[3] = {"depth", "height", "width"};
  CN_CHECK(N >= 0, "batch size must be >= 0, got ", N);
  CN_CHECK(C >= 1, "input must have at least one channel, got ", C);
  CN_CHECK(K >= 1, "weight must have at least one output channel, got ", K);
  CN_CHECK(groups >= 1, "groups must be >= 1, got ", groups);
  CN_CHECK(C % groups == 0, "input channels ", C, " are not divisible by groups=", groups);
  CN_CHECK(K % groups == 0, "output channels ", K, " are not divisible by groups=", groups);
  for (int d = 0; d < 3; ++d) {
    CN_CHECK(in[d] >= 1, "input ", kAxis[d], " must be >= 1, got ", in[d]);
    CN_CHECK(kernel[d] >= 1, "kernel ", kAxis[d], " must be >= 1, got ", kernel[d]);
    CN_CHECK(stride[d] >= 1, "stride must be >= 1, got ", stride[d], " (", kAxis[d], ")");
    CN_CHECK(dilation[d] >= 1, "dilation must be >= 1, got ", dilation[d], " (", kAxis[d], ")");
    CN_CHECK(pad_lo[d] >= 0 && pad_hi[d] >= 0, "padding must be >= 0, got (", pad_lo[d], ", ",
             pad_hi[d], ") (", kAxis[d], ")");
    const int64_t span = checked_add(checked_mul(dilation[d], kernel[d] - 1, "dilated kernel"), 1,
                                     "dilated kernel");
    const int64_t padded = checked_add(checked_add(in[d], pad_lo[d], "padded input"), pad_hi[d],
                                       "padded input");
    CN_CHECK(span <= padded, "kernel ", kAxis[d], " ", kernel[d], " (dilation ", dilation[d],
             ") does not fit the input ", kAxis[d], " ", in[d], " padded by (", pad_lo[d], ", ",
             pad_hi[d], ")");
  }
  // Every product the kernels form, so none of them can wrap.
  checked_numel({N, C, in[0], in[1], in[2]}, "input size");
  checked_numel({N, K, out(0), out(1), out(2)}, "output size");
  checked_numel({K, C / groups, kernel[0], kernel[1], kernel[2]}, "weight size");
  checked_numel({C / groups, kernel[0], kernel[1], kernel[2], out(1), out(2)}, "column matrix size");
}

}  // namespace cnnnative
