// Winograd F(m x m, 3x3) with filters that exist only as a gather rule: each row block's
// 3x3 filters are produced into a small buffer right before they are transformed, so a
// derived weight (the sub-pixel transposed convolution's stacked, zero-padded one,
// conv_transpose_subpixel.h) is never built whole in memory.
#pragma once
#include <cstdint>

#include "cnnnative/conv_params.h"

namespace cnnnative {

constexpr int64_t kGatherRowBlock = 12;     // output channels per row block (winograd::kRowBlock)
constexpr int kGatherMaxSegments = 4;         // input-channel ranges per transform point
constexpr int64_t kGatherSegmentStride = 1 + 2 * kGatherMaxSegments;
constexpr int kGatherMaxRowRanges = 4;      // row ranges per (row block, transform point)
constexpr int64_t kGatherRowRangeStride = 1 + 2 * kGatherMaxRowRanges;

// Writes the problem's filters of output channels [k0, k0 + rows) over all Cg input
// channels: f[(r * Cg + c) * 9 + tap], tap = kh * 3 + kw (OIHW of the convolution run).
//
// Optionally, where the transformed filters G f G^T are exactly zero, so the transform-
// domain GEMMs may skip them (the results are the same: they would add exact zeros):
//  - points: per row block kb (output channels kb * 12 ..), bit xi set where any of its
//    filters can be nonzero at transform point xi; elsewhere its GEMM is skipped.
//  - segments: per transform point xi, at segments + xi * kGatherSegmentStride, a count n
//    <= kGatherMaxSegments and n ranges [lo, hi) of input channels (lo a multiple of 16,
//    increasing, disjoint) outside which every filter is zero at xi; the GEMM reduces over
//    those ranges only.
//  - row_ranges (instead of points): per row block kb and transform point xi, at
//    row_ranges + (kb * nxi + xi) * kGatherRowRangeStride, a count n <= kGatherMaxRowRanges
//    and n ranges [lo, hi) of the block's rows (increasing, disjoint) outside which its
//    filters are zero at xi; the GEMM computes those rows only (n = 0: none).
struct FilterGather {
  void (*fn)(const void* ctx, int64_t k0, int rows, int64_t Cg, float* f) = nullptr;
  const void* ctx = nullptr;
  const uint64_t* points = nullptr;
  const int64_t* segments = nullptr;
  const int32_t* row_ranges = nullptr;
  // Optional, F(4x4) only: writes the transformed filters of rows [k0, k0 + rows) itself,
  // in the packed layout of winograd::Kernels::filter_transform (rows past `rows` zero),
  // instead of fn + the generic filter transform. fn stays required (NaN/inf fallbacks).
  // zero_points false: the values that points / segments / row_ranges mark zero may be left
  // unwritten (the caller's GEMMs skip them).
  void (*transform)(const void* ctx, int64_t k0, int rows, int64_t Cg, float* u, int64_t xi_stride,
                    bool zero_points) = nullptr;
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
