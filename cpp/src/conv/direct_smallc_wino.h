// The small-channel direct convolution with a 1-D Winograd F(2,3) or F(2,4) along the
// width: fewer multiplies than any direct kernel (algorithm "direct_smallc_wino").
//
// direct_smallc (direct_smallc.h) runs at the FMA peak, so it can only match a good GEMM
// library. This variant cuts the multiplies: split the kernel's columns by phase
// a = (s * dilation_w) mod stride_w; within a phase the taps sit at slots
// m = (s * dilation_w) / stride_w, stride-1 along the de-interleaved input row, and TWO
// adjacent output pixels (ow = 2t, 2t+1) of an r-tap 1-D correlation need r + 1
// multiplies instead of 2r with Winograd's F(2,r). One "family" serves the whole layer,
// chosen by the largest slot: F(2,3) (4 points 0, 1, -1, infinity) when every phase has
// at most 3 slots, else F(2,4) (5 points 0, 1, -1, 2, infinity), scaled so the input
// transform has small integer coefficients (d_e = phase row at 2t + e, Mi = sum Gi * Di
// over channels, kernel rows and phases):
//   F(2,3):  D0 = d0 - d2       G0 = g0                     y0 = M0 + M1 + M2
//            D1 = d1 + d2       G1 = (g0 + g1 + g2) / 2     y1 = M1 - M2 - M3
//            D2 = d2 - d1       G2 = (g0 - g1 + g2) / 2
//            D3 = d1 - d3       G3 = g2
//   F(2,4):  D0 = 2d0 - d1 - 2d2 + d3      G0 = g0 / 2                     y0 = M0 + M1 + M2 + M3
//            D1 = 2d1 + d2 - d3            G1 = (g0 + g1 + g2 + g3) / 2    y1 = M1 - M2 + 2 M3 + M4
//            D2 = -2d1 + 3d2 - d3          G2 = (g0 - g1 + g2 - g3) / 6
//            D3 = d3 - d1                  G3 = (g0 + 2g1 + 4g2 + 8g3) / 6
//            D4 = 2d1 - d2 - 2d3 + d4      G4 = g3
// The infinity point's filter value is the last slot's tap alone, so a phase without a
// tap in its last slot (AlexNet's 4th phase of 2 taps in the 3-slot family, the stem's
// 2nd phase of 3 in the 4-slot one) is "reduced": it skips that point, i.e. it runs
// F(2, r-1) with the family's output transform. Phases without any tap are skipped.
// Multiplies per output pair and (channel, kernel row), against 2 * S direct:
//   ResNet stem 7x7/2:     5 + 4 = 9 instead of 14 (1.56x fewer)
//   AlexNet conv1 11x11/4: 4 + 4 + 4 + 3 = 15 instead of 22 (1.47x fewer)
// The transformed inputs Di are built per chunk like direct_smallc's tap planes (row
// phase q, pitch PW = ceil(OW / 2) output pairs, linear in the pair index), the filters
// Gi once (pack_weights). An odd output width computes one pad column per row (its
// inputs are image or zero padding, never garbage) that the kernels do not store.
//
// Shapes: groups 1, C <= 64, at most 4 slots per column phase ((S-1)*dilation_w / stride_w
// < 4: 7x7/2, 5x5/2, 8x8/2, 3x3/1, 4x4/1, 11x11/4...), any output width. auto prefers it
// only where it saves enough (preferred()).
// Error: measured 1.1-3x direct's for F(2,4) (transform coefficients <= 3), less for
// F(2,3) (coefficients 1); the tests assert 2x the direct bound. Forward only, like
// direct_smallc.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "cnnnative/conv_params.h"
#include "cnnnative/winograd.h"  // ConvEpilogue, Activation

namespace cnnnative {
namespace direct_smallc_wino {

constexpr int kMaxPoints = 5;   // F(2,4)
constexpr int kMaxSlots = 4;    // taps per phase
// Output channels per packed block (the register tile's channels): 6 for F(2,3) (6 x 4
// points = 24 accumulators), 4 for F(2,4) (20).
constexpr int block_k(int points) { return points == 4 ? 6 : 4; }

bool supports(const ConvParams& p, std::string* why);

// Transformed points per tap of the layer's family: 4 (F(2,3)) or 5 (F(2,4)).
int family_points(const ConvParams& p);

// Multiplies per output pair and (input channel, kernel row): the sum over the phases
// with taps of their points (one fewer for a reduced phase).
int64_t multiplies_per_pair_row(const ConvParams& p);

// Whether to prefer it over direct_smallc: supported, the AVX-512 or AVX2 kernel active,
// and enough fewer multiplies than the direct kernel's 2 * S per output pair and row; the
// transforms and the narrower register tile cost ~15-30%, so we ask for 1.45x fewer.
// Measured against direct_smallc (1 thread, CPU time, Zen 5): stem 7x7/2 (1.56x fewer)
// 1.42x faster, AlexNet conv1 11x11/4 (1.47x fewer) 1.23x, VGG conv1_1 3x3/1 C=3
// (1.5x fewer) 1.55x. 5x5/2 (1.43x fewer) is left to the direct kernel (not measured).
// Under AVX2 (CNNNATIVE_ISA=avx2, both kernels' AVX2 versions): stem 1.3x, AlexNet
// conv1 1.15x, VGG conv1_1 1.45-1.6x; 5x5/2 C=3 was 1.35x faster too but is left out by
// the same rule, and C=8 7x7/2 (1.56x fewer) measured even (1.0x).
// Under AVX2 it is also preferred at 1.33x-1.45x fewer (4x4/2, 5x5/2, 2x2/1) with K >= 64
// and N * OH * OW >= 2048 (AMD EPYC AVX2, 1 thread, CPU time, against direct_smallc:
// 4x4/2 C=64->128 32x32 b16 1.16x, C=32->64 64x64 b8 1.20x, C=3->64 64x64 b16 1.47x,
// 5x5/2 C=32/64->64 b8 1.12-1.14x; left out: K=32 or fewer 0.89-1.01x, and 4x4/2
// C=64->64 56x56 b1 0.92x). 4x4/2 is the input gradient of DCGAN's transposed convolutions.
bool preferred(const ConvParams& p);

// [ceil(K/B)][taps: full phases' (c, r, a), then reduced ones'][points][B channels], B = block_k(points)
int64_t packed_weight_floats(const ConvParams& p);
void pack_weights(const ConvParams& p, const float* w, float* packed);

size_t workspace_bytes(const ConvParams& p, int threads);

// As direct_smallc::forward_packed (epilogue in registers, workspace or allocate). w: the
// OIHW filters packed_w came from. The 1-D transform adds and subtracts neighbouring
// pixels (an inf meets -inf there, and F(2,4) spreads a NaN to the pair), so inputs
// holding NaN or inf take conv/nonfinite.h's route, which needs them.
void forward_packed(const ConvParams& p, const float* x, const float* packed_w, const float* w,
                    const ConvEpilogue& ep, float* y, float* workspace, size_t workspace_size, int threads);

void forward(const ConvParams& p, const float* x, const float* w, const float* bias, float* y);

// The per-ISA part: one chunk of `pairs` output pairs of one image.
struct BandArgs {
  int points;                 // 4 or 5 (the family)
  const float* planes;        // transformed planes: point i of tap t at tap_offset[t] + i * point_stride
  const int64_t* tap_offset;  // [taps]
  int64_t point_stride;
  int64_t taps;               // C * R * (phases with taps)
  int64_t full_taps;          // taps [0, full_taps) use every point, the rest all but the last
  const float* packed_w;
  const float* bias;          // [K] or null
  int64_t K;
  int64_t first_pair;         // the chunk's first pair in the image: row first_pair / PW, pair first_pair % PW
  int64_t pairs;
  int64_t PW, OW;             // pairs per row (ceil(OW / 2)) and output width
  float* y;                   // the image's output, channel 0 at y, channel k at y + k * ld
  const float* residual;      // same layout or null
  int64_t ld;                 // OH * OW
  Activation act;
};
void band_scalar(const BandArgs& a);
void band_avx2(const BandArgs& a);    // direct_smallc_wino_band__avx2.cc
void band_avx512(const BandArgs& a);

// The input transform of one row: o_i[t] = (B^T d)_i for i < outputs, t < n, from the
// shifted phase rows d_e (the D formulas above of the family with `points` points).
// Part of building the planes, per ISA.
void transform_row_scalar(int points, int outputs, const float* const d[kMaxPoints], float* const o[kMaxPoints],
                          int64_t n);
void transform_row_avx2(int points, int outputs, const float* const d[kMaxPoints], float* const o[kMaxPoints],
                        int64_t n);
void transform_row_avx512(int points, int outputs, const float* const d[kMaxPoints], float* const o[kMaxPoints],
                          int64_t n);

}  // namespace direct_smallc_wino
}  // namespace cnnnative
