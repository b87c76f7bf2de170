// The Winograd F(4x4, 3x3) filter transform of sub-pixel phase filters, straight from the
// transposed convolution's weight (conv_transpose_subpixel.cc): 16 filters at a time (the
// lanes of one packed panel), each a stacked 3x3 filter whose few real taps (4 of 9 at
// 4x4 stride 2) are loaded from w and whose zero taps cost nothing. Replaces copying each
// zero-padded filter into a buffer and transforming all 9 taps (the copy alone was about
// a quarter of DCGAN 512->256's forward). Compiled per ISA like the Winograd kernels.
#pragma once
#include <cstdint>

#include "cnnnative/isa.h"

namespace cnnnative {
namespace subpixel {

struct PhaseFilterArgs {
  // Lane l's filter: tap at window position pos (= a * 3 + b) is base[lane_offset[l] +
  // taps[pos]] where taps[pos] >= 0, else 0; lanes >= `lanes` are zero filters.
  const float* base = nullptr;
  const int32_t* lane_offset = nullptr;  // [16]
  int lanes = 16;
  const int* taps = nullptr;  // [9]
  // Output: U[xi] of the 16 filters at u + xi * xi_stride (16 floats each), 36 points.
  float* u = nullptr;
  int64_t xi_stride = 0;
};

struct PhaseFilterKernels {
  void (*transform)(const PhaseFilterArgs& a);
};

const PhaseFilterKernels& phase_filter_kernels_scalar();
const PhaseFilterKernels& phase_filter_kernels_avx2();
const PhaseFilterKernels& phase_filter_kernels_avx512();

inline const PhaseFilterKernels& phase_filter_kernels_for(Isa isa) {
  switch (isa) {
    case Isa::avx512: return phase_filter_kernels_avx512();
    case Isa::avx2: return phase_filter_kernels_avx2();
    default: return phase_filter_kernels_scalar();
  }
}

}  // namespace subpixel
}  // namespace cnnnative
