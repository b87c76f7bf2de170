// The transforms of the 1-D Winograd F(m, 3) (winograd1d.h) for one block of 32 tiles,
// one table per instruction set (winograd1d_kernels_impl.h compiled by
// winograd1d_kernels.cc, __avx2.cc and __avx512.cc). The GEMM between them is the 2-D
// Winograd's (winograd_kernels.h).
#pragma once
#include <cstdint>

#include "cnnnative/isa.h"

namespace cnnnative {
namespace winograd1d {

constexpr int kLanes = 32;  // tiles per block (winograd::kTileBlock)

// The tiles of one block in one tensor: lane l (l < n) starts at offset off[l] of the
// tensor's channel 0 (its image's offset plus the window's first position); the taps of
// the window are `step` (the dilation) apart. full: n == 32 and every lane's window lies
// inside [0, len) of its row (no bounds checks); otherwise pos[l] is the window's first
// position in the row (off[l] - pos[l] is the row start) and len the row length.
struct BlockLanes {
  int n = 0;
  bool full = false;
  int64_t step = 1, len = 0;
  int64_t off[kLanes], pos[kLanes];
};

// v[xi * xi_stride + lane] = (B^T d)[xi] for the m + 2 inputs d of each lane's window in
// the channel row at x (lanes past n: 0).
using InputFn = void (*)(const BlockLanes& b, const float* x, float* v, int64_t xi_stride);
// The m outputs of each lane = A^T m[xi * xi_stride + lane] + bias, stored at y (outputs
// at or past len are skipped).
using OutputFn = void (*)(const BlockLanes& b, const float* mm, int64_t xi_stride, float bias, float* y);
// The weight gradient's output-gradient transform: g[xi * xi_stride + lane] = (A g)[xi]
// for the m values of each lane's tile in the row at dy (past len, and lanes past n: 0).
using GradFn = void (*)(const BlockLanes& b, const float* dy, float* g, int64_t xi_stride);

struct Kernels {
  InputFn input;
  OutputFn output;
  GradFn grad;
};

const Kernels& kernels_scalar(int m);
const Kernels& kernels_avx2(int m);
const Kernels& kernels_avx512(int m);

inline const Kernels& kernels_for(Isa isa, int m) {
  switch (isa) {
    case Isa::avx512: return kernels_avx512(m);
    case Isa::avx2: return kernels_avx2(m);
    default: return kernels_scalar(m);
  }
}

}  // namespace winograd1d
}  // namespace cnnnative
