// The descriptor every convolution entry point takes.
//
// Layout is NCHW for activations and OIHW (K x C/groups x R x S) for weights, as PyTorch.
// All sizes are int64; validate() checks every constraint once, with messages that name
// the argument and the sizes, and that products of sizes fit in int64.
#pragma once
#include <cstdint>
#include <string>

namespace cnnnative {

struct ConvParams {
  int64_t N = 0, C = 0, H = 0, W = 0;  // input: batch, channels, height, width
  int64_t K = 0, R = 0, S = 0;         // output channels, kernel height, kernel width
  int64_t stride_h = 1, stride_w = 1;
  int64_t dilation_h = 1, dilation_w = 1;
  int64_t pad_top = 0, pad_bottom = 0, pad_left = 0, pad_right = 0;
  int64_t groups = 1;

  int64_t output_h() const { return (H + pad_top + pad_bottom - dilation_h * (R - 1) - 1) / stride_h + 1; }
  int64_t output_w() const { return (W + pad_left + pad_right - dilation_w * (S - 1) - 1) / stride_w + 1; }
  int64_t channels_per_group() const { return C / groups; }
  int64_t outputs_per_group() const { return K / groups; }

  int64_t input_numel() const;
  int64_t weight_numel() const;
  int64_t output_numel() const;

  // Throws ValueError / OverflowError describing the first violated constraint.
  void validate() const;
  std::string to_string() const;
};

}  // namespace cnnnative
