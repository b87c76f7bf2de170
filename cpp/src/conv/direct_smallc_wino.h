// The small-channel direct convolution with a 1-D Winograd F(2,4) along the width:
// fewer multiplies than any direct kernel (algorithm "direct_smallc_wino").
//
// direct_smallc (direct_smallc.h) runs at the FMA peak, so it can only match a good GEMM
// library. This variant cuts the multiplies: split the kernel's columns by phase
// a = (s * dilation_w) mod stride_w; within a phase the taps are stride-1 along the
// de-interleaved input row, at most 4 of them (zero-filled up to 4), and TWO adjacent
// output pixels (ow = 2t, 2t+1) of a 4-tap 1-D correlation need 5 multiplies instead of 8
// with Winograd's F(2,4) (points 0, 1, -1, 2, infinity), scaled so the input transform
// has small integer coefficients:
//   D0 = 2d0 - d1 - 2d2 + d3      G0 = g0 / 2                     y0 = M0 + M1 + M2 + M3
//   D1 = 2d1 + d2 - d3            G1 = (g0 + g1 + g2 + g3) / 2    y1 = M1 - M2 + 2 M3 + M4
//   D2 = -2d1 + 3d2 - d3          G2 = (g0 - g1 + g2 - g3) / 6    with Mi = sum Gi * Di
//   D3 = d3 - d1                  G3 = (g0 + 2g1 + 4g2 + 8g3) / 6 over channels, kernel rows
//   D4 = 2d1 - d2 - 2d3 + d4      G4 = g3                         and phases
// The sums over (c, r, a) run in the transformed domain, so each output pair costs
// 5 * C*R*stride_w multiply-adds per output channel instead of 2 * C*R*S: 1.4x fewer for
// the ResNet stem (7x7 stride 2: 210 instead of 294). The transformed inputs Di are built
// per chunk like direct_smallc's tap planes (row phase q, pitch OW/2 output pairs, linear
// in the pair index), the filters Gi once (pack_weights).
//
// Shapes: groups 1, C <= 64, at most 4 taps per column phase ((S-1)*dilation_w / stride_w
// < 4: 7x7/2, 5x5/2, 8x8/2, 3x3/1, 4x4/1, 11x11/4...; shorter phases get zero taps), even
// OW (a pair never straddles rows). auto prefers it only where it saves enough (preferred()).
// Error: measured 1.1-3x direct's (transform coefficients <= 3); the tests assert 2x the
// direct bound, which holds with a wide margin. Forward only, like direct_smallc.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "cnnnative/conv_params.h"
#include "cnnnative/winograd.h"  // ConvEpilogue, Activation

namespace cnnnative {
namespace direct_smallc_wino {

constexpr int kPoints = 5;     // F(2,4)
constexpr int kTaps = 4;       // taps per phase
constexpr int64_t kBlockK = 4; // output channels per packed block (the register tile)

bool supports(const ConvParams& p, std::string* why);

// Whether to prefer it over direct_smallc: supported, the AVX-512 kernel active, and
// enough fewer multiplies -- 5 * stride_w per output pair against 2 * S for the direct
// kernel; the transforms and the 4-channel tile cost ~30%, so we ask for 2S >= 1.3 * 5 sw
// (the stem 7x7/2: 1.4x fewer multiplies, measured 1.24x faster; 3x3/1 would not pay).
bool preferred(const ConvParams& p);

// [ceil(K/4)][C*R*stride_w (c, r, a)][5 points][4 channels]
int64_t packed_weight_floats(const ConvParams& p);
void pack_weights(const ConvParams& p, const float* w, float* packed);

size_t workspace_bytes(const ConvParams& p, int threads);

// As direct_smallc::forward_packed (epilogue in registers, workspace or allocate).
void forward_packed(const ConvParams& p, const float* x, const float* packed_w, const ConvEpilogue& ep,
                    float* y, float* workspace, size_t workspace_size, int threads);

void forward(const ConvParams& p, const float* x, const float* w, const float* bias, float* y);

// The per-ISA part: one chunk of `pairs` output pairs.
struct BandArgs {
  const float* planes;        // transformed planes: point i of tap t at tap_offset[t] + i * point_stride
  const int64_t* tap_offset;  // [taps]
  int64_t point_stride;
  int64_t taps;               // C * R * stride_w
  const float* packed_w;
  const float* bias;          // [K] or null
  int64_t K;
  int64_t pairs;
  float* y;                   // output of channel 0 at the chunk's first pixel; channel k at y + k * ld
  const float* residual;      // same layout or null
  int64_t ld;
  Activation act;
};
void band_scalar(const BandArgs& a);
void band_avx512(const BandArgs& a);

// The input transform of one row: o_i[t] = (B^T d)_i over t < n, from the five shifted
// phase rows d_e (the D0..D4 formulas above). Part of building the planes, per ISA.
void transform_row_scalar(const float* const d[kPoints], float* const o[kPoints], int64_t n);
void transform_row_avx512(const float* const d[kPoints], float* const o[kPoints], int64_t n);

}  // namespace direct_smallc_wino
}  // namespace cnnnative
