// Average pooling of the 3x3, stride-1, padding-1 window (output the size of the input;
// Inception-v3's branch pools) as two separable passes over each NCHW plane, both over the
// plane as one flat array: column sums of three rows (v = up + here + down), then row sums
// of three columns of v, divided by PyTorch's divisor. 4 adds and a divide per output
// instead of 9 adds, no transposes, and every load contiguous, so a 17x17 or 8x8 plane is
// 19 or 4 full vectors rather than 17 or 8 short rows.
//
// Results: within float rounding of the row-major window sum (the per-plane and channel-lane
// kernels), not bit-equal, since the nine taps are added in column-first order:
// ((0 + x[r-1][c-1] + x[r][c-1] + x[r+1][c-1]) + (... column c) + (... column c+1)). Taps in
// the padding are left out (the same as adding +0), a sum never ends as -0.0 (it starts
// from +0, as PyTorch's does), any NaN or opposite infinities in a window give NaN, and
// values outside a window never reach it (the border taps are selected away, not
// multiplied by 0). The bits depend neither on the ISA (the same adds in the same order,
// no FMA) nor on the thread count (whole planes per thread).
//
// AvgSame3Shape is a plain struct because the per-ISA kernel files include this header.
#pragma once
#include <cstdint>

#include "pool/pool.h"

namespace cnnnative {

struct AvgSame3Shape {
  int64_t H = 0, W = 0;
  // Per output pixel of a plane (H*W each): 1 where the left / right neighbour column
  // exists, else 0; and the divisor (null: 9 everywhere, count_include_pad).
  const float* has_left = nullptr;
  const float* has_right = nullptr;
  const float* divisor = nullptr;
};

struct AvgSame3Kernels {
  // planes planes of H x W; scratch holds H*W + 2 floats.
  void (*planes)(const AvgSame3Shape& s, const float* x, float* y, int64_t planes, float* scratch);
};

extern const AvgSame3Kernels avg_same3_scalar;
extern const AvgSame3Kernels avg_same3_avx2;
extern const AvgSame3Kernels avg_same3_avx512;

// Whether p is the window this kernel takes: 3x3, stride 1, padding 1, dilation 1 (ceil
// mode changes nothing at stride 1), either count_include_pad.
bool avg_pool_same3_applies(const PoolParams& p);

// p.N * p.C planes (p validated), whole planes per member of a team of up to `threads`.
void avg_pool_same3(const PoolParams& p, const float* x, float* y, int threads);

}  // namespace cnnnative
