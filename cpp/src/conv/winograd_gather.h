// Winograd F(m x m, 3x3) with filters that exist only as a gather rule: each row block's
// 3x3 filters are produced into a small buffer right before they are transformed, so a
// derived weight (the sub-pixel transposed convolution's stacked, zero-padded one,
// conv_transpose_subpixel.h) is never built whole in memory.
#pragma once
#include <cstdint>

#include "cnnnative/conv_params.h"

namespace cnnnative {

// Writes the problem's filters of output channels [k0, k0 + rows) over all Cg input
// channels: f[(r * Cg + c) * 9 + tap], tap = kh * 3 + kw (OIHW of the convolution run).
struct FilterGather {
  void (*fn)(const void* ctx, int64_t k0, int rows, int64_t Cg, float* f) = nullptr;
  const void* ctx = nullptr;
};

// y[N, K, OH, OW] = the 3x3 stride-1 correlation of x with the gathered filters (groups 1,
// no bias), tile m (2, 4 or 6), the library's threads. NaN/inf in x: as every algorithm
// (the gather is then called for all filters); the filters must be finite (the caller
// checks the weights they come from).
void winograd_forward_gathered(const ConvParams& p, int m, const FilterGather& filters, const float* x, float* y);

// dx[N, C, H, W] = p's input gradient from dy[N, K, OH, OW]: the same correlation of dy
// with p's filters rotated by 180 degrees, K and C swapped -- which `filters` must
// produce itself (rows are p's input channels, columns its output channels).
void winograd_backward_input_gathered(const ConvParams& p, int m, const FilterGather& filters, const float* dy,
                                      float* dx);

// The tile "winograd" (no size) would pick for p's forward and for its input gradient.
int winograd_tile_for(const ConvParams& p, bool for_input_gradient);

}  // namespace cnnnative
