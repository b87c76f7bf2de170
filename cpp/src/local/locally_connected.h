// Locally connected (unshared) 2-D convolution: like conv2d, but every output position has
// its own filter bank.
//
// Layouts (row-major):
//   input   (N, C, H, W)
//   weight  (P, K, C*kH*kW), P = OH*OW positions in row-major (oh, ow) order; the last axis
//           is a patch in torch.nn.functional.unfold's order (c, ki, kj)
//   bias    (K, OH, OW), or null
//   output  (N, K, OH, OW)
//
// Each position p is one small GEMM on the patches under it, X_p (N x C*kH*kW):
//   forward       Y_p  = X_p  W_p^T            (N x K)
//   grad_input    dX_p = dY_p W_p              (N x C*kH*kW), scattered back onto the input
//   grad_weight   dW_p = dY_p^T X_p            (K x C*kH*kW), written straight into place
// Positions are split into one contiguous range per thread. The products are small (one
// side is the batch) and each weight block is used once, so they run on local::small_gemm
// (no packing; see small_gemm.h) instead of the packed SGEMM: with the input re-laid out
// once as (H, C, W, N), a patch's column for all N samples is one contiguous copy. Outputs
// are moved to/from (N, K, OH, OW) a block of positions at a time, so whole cache lines are
// written. The input gradient of each range goes to a private band of input rows (ranges
// overlap by up to kH - sH rows), summed into grad_input at the end in a fixed order:
// results depend on the thread count only through that order.
#pragma once
#include <cstdint>

namespace cnnnative {

struct LocalGeometry {
  int64_t N, C, H, W;     // input
  int64_t K;              // output channels
  int64_t kH, kW;         // kernel
  int64_t sH, sW;         // stride
  int64_t pad_top, pad_bottom, pad_left, pad_right;
  int64_t OH, OW;         // output (computed by local_geometry)

  int64_t positions() const { return OH * OW; }
  int64_t patch() const { return C * kH * kW; }
};

// Fills OH/OW and checks every size (ValueError / OverflowError on bad ones).
void finish_local_geometry(LocalGeometry& g);

// output: N*K*OH*OW floats, every element written. bias may be null.
void locally_connected2d_forward(const LocalGeometry& g, const float* input, const float* weight,
                                 const float* bias, float* output);

// grad_input (N*C*H*W) and/or grad_weight (P*K*C*kH*kW): either may be null (not computed);
// every element of a non-null one is written.
void locally_connected2d_backward(const LocalGeometry& g, const float* input, const float* weight,
                                  const float* grad_output, float* grad_input, float* grad_weight);

}  // namespace cnnnative
