// Global average pooling of NCHW planes, y[p] = mean of plane p's hw values, vectorised per
// ISA for the small planes of squeeze-and-excitation blocks (MobileNet-v3's 960 planes of
// 7x7 took 22.6 us in the baseline-ISA loop, about 23 ns per plane).
//
// Every ISA sums in the same order, so results do not depend on it: 16 running sums, value
// i going to sum i % 16, then the sums halved pairwise (8, 4, 2, 1 apart) and the total
// divided by hw. hw = 0 gives 0 / 0 (NaN), as torch's mean of an empty plane.
#pragma once
#include <cstdint>

namespace cnnnative {

struct GlobalAvgPoolKernels {
  // planes consecutive planes of hw floats -> planes means.
  void (*means)(const float* x, int64_t planes, int64_t hw, float* y);
};

extern const GlobalAvgPoolKernels global_avg_pool_scalar;
extern const GlobalAvgPoolKernels global_avg_pool_avx2;
extern const GlobalAvgPoolKernels global_avg_pool_avx512;

// The active ISA's kernel over `planes` planes, blocks of planes shared on `threads` threads.
void global_avg_pool_planes(const float* x, int64_t planes, int64_t hw, float* y, int threads);

}  // namespace cnnnative
