// The per-ISA part of the small-channel direct convolution (see direct_smallc.h): the
// loop over one band's output pixels and channel blocks, with the register tile and the
// fused epilogue. direct_smallc_band__avx512.cc / __avx2.cc / __scalar.cc each define one.
#pragma once
#include <cstdint>

#include "cnnnative/isa.h"
#include "cnnnative/winograd.h"  // Activation

namespace cnnnative {
namespace direct_smallc {

// One chunk ("band") of `pixels` consecutive output pixels of one image (flat index
// oh * OW + ow; it may start and end inside a row), for all K output channels.
struct BandArgs {
  const float* planes;        // this band's tap planes; readable up to kPlanePadFloats past the end
  const int64_t* tap_offset;  // [taps]: where tap t's value for band pixel 0 lies in `planes`
  int64_t taps;               // C*R*S
  const float* packed_w;      // [ceil(K/8)][taps][8] (pack_weights)
  const float* bias;          // [K] or null
  int64_t K;
  int64_t pixels;             // pixels in the band (rows * OW)
  float* y;                   // output of channel 0 at band pixel 0; channel k at y + k * ld
  const float* residual;      // same layout as y, or null
  int64_t ld;                 // OH * OW
  Activation act;
};

// Vector loads may run past the last band pixel (their lanes are dropped at the store),
// so every plane buffer has this many readable floats after it.
constexpr int64_t kPlanePadFloats = 64;

using BandFn = void (*)(const BandArgs& a);

// ph[q * width + i] = padded_row[stride * i + q] for q < stride, i < width, where the
// padded row is `pad_left` zeros, row[0..W), then zeros (direct_smallc.cc).
void deinterleave(const float* row, int64_t W, int64_t pad_left, int64_t stride, int64_t width, float* ph);
// Its AVX-512 interior (direct_smallc_deinterleave__avx512.cc): stride 2, 4 or 8.
int64_t deinterleave_interior__avx512(const float* src, int64_t stride, int64_t lo, int64_t hi, int64_t width,
                                      float* ph);

void band_scalar(const BandArgs& a);
void band_avx2(const BandArgs& a);
void band_avx512(const BandArgs& a);

inline BandFn band_kernel_for(Isa isa) {
  return isa == Isa::avx512 ? &band_avx512 : isa == Isa::avx2 ? &band_avx2 : &band_scalar;
}

}  // namespace direct_smallc
}  // namespace cnnnative
