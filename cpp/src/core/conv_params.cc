// Validation of the convolution descriptor: every entry point calls validate() first.
#include "cnnnative/conv_params.h"

#include "cnnnative/errors.h"

namespace cnnnative {

int64_t ConvParams::input_numel() const { return checked_numel({N, C, H, W}, "input size"); }
int64_t ConvParams::weight_numel() const {
  return checked_numel({K, C / groups, R, S}, "weight size");
}
int64_t ConvParams::output_numel() const {
  return checked_numel({N, K, output_h(), output_w()}, "output size");
}

std::string ConvParams::to_string() const {
  return concat("input (", N, ", ", C, ", ", H, ", ", W, "), weight (", K, ", ",
                groups > 0 ? C / groups : C, ", ", R, ", ", S, "), stride (", stride_h, ", ",
                stride_w, "), padding (", pad_top, ", ", pad_bottom, ", ", pad_left, ", ",
                pad_right, "), dilation (", dilation_h, ", ", dilation_w, "), groups ", groups);
}

void ConvParams::validate() const {
  CN_CHECK(N >= 0, "batch size must be >= 0, got ", N);
  CN_CHECK(C >= 1 && H >= 1 && W >= 1, "input channels, height and width must be >= 1, got (", C,
           ", ", H, ", ", W, ")");
  CN_CHECK(K >= 1 && R >= 1 && S >= 1, "weight out_channels and kernel size must be >= 1, got (",
           K, ", ", R, ", ", S, ")");
  CN_CHECK(stride_h >= 1 && stride_w >= 1, "stride must be >= 1, got (", stride_h, ", ", stride_w,
           ")");
  CN_CHECK(dilation_h >= 1 && dilation_w >= 1, "dilation must be >= 1, got (", dilation_h, ", ",
           dilation_w, ")");
  CN_CHECK(pad_top >= 0 && pad_bottom >= 0 && pad_left >= 0 && pad_right >= 0,
           "padding must be >= 0, got (", pad_top, ", ", pad_bottom, ", ", pad_left, ", ",
           pad_right, ")");
  CN_CHECK(groups >= 1, "groups must be >= 1, got ", groups);
  CN_CHECK(C % groups == 0, "groups=", groups, " must divide input channels ", C);
  CN_CHECK(K % groups == 0, "groups=", groups, " must divide output channels ", K);
  // Sizes that are individually plausible can still overflow when combined.
  const int64_t padded_h = checked_add(checked_add(H, pad_top, "padded height"), pad_bottom, "padded height");
  const int64_t padded_w = checked_add(checked_add(W, pad_left, "padded width"), pad_right, "padded width");
  const int64_t extent_h = checked_add(checked_mul(dilation_h, R - 1, "dilated kernel height"), 1);
  const int64_t extent_w = checked_add(checked_mul(dilation_w, S - 1, "dilated kernel width"), 1);
  CN_CHECK(extent_h <= padded_h && extent_w <= padded_w, "kernel (dilated ", extent_h, "x",
           extent_w, ") is larger than the padded input ", padded_h, "x", padded_w, " for ",
           to_string());
  input_numel();
  weight_numel();
  output_numel();
  // Workspaces (im2col columns) are C/g*R*S x OH*OW; make sure that fits as well.
  checked_numel({C / groups, R, S, output_h(), output_w()}, "im2col workspace");
}

}  // namespace cnnnative
