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

// Every phase of the same 16 filters at once: lane l's filter is its R*S <= 16 taps,
// contiguous at base + l * lane_stride (a 4x4 kernel: one vector). The 16 filters are loaded
// whole and transposed in registers, so each tap of each phase comes without a gather
// (gathers from 16 lines were most of DCGAN 512->256's filter transform).
struct PhaseFilterBlockArgs {
  const float* base = nullptr;
  int64_t lane_stride = 0;
  int lanes = 16;  // lanes >= `lanes` are zero filters
  int taps_per_filter = 16;  // R * S
  int phases = 0;  // at most kMaxPhases
  static constexpr int kMaxPhases = 4;
  // Phase i: its tap at window position pos as in PhaseFilterArgs (taps[i] + pos), and its
  // output U[xi] at u[i] + xi * xi_stride (16 floats each).
  const int* taps[kMaxPhases] = {};
  float* u[kMaxPhases] = {};
  int64_t xi_stride = 0;
  // false: leave the points where a phase's transform is zero whatever its taps unwritten,
  // for callers whose GEMMs skip them (a third of the stores at 4x4 stride 2).
  bool zero_points = true;
};

struct PhaseFilterKernels {
  void (*transform)(const PhaseFilterArgs& a);
  // Returns false when one of the 16 filters holds a NaN or inf (the callers then take the
  // GEMM path instead of scanning the whole weight first).
  bool (*transform_phases)(const PhaseFilterBlockArgs& a);
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
