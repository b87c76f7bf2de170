// Transposed convolution by sub-pixel decomposition: a stride-s transposed convolution is
// s*s ordinary stride-1 correlations (one per output phase (r, q): the output pixels
// (s*m + r, s*j + q)), each over a few neighbouring input pixels. When every phase's
// taps fall inside one 3-wide window of the input (DCGAN's 4x4 stride 2 padding 1, or
// 3x3 stride 2 padding 1), the s*s phases stack into one 3x3 stride-1 convolution with
// s*s*C_out output channels (the phase kernels zero-padded to 3x3), which runs on
// Winograd F(4x4, 3x3): 2.25 multiplies per output against the direct 4 of a 2x2 phase
// kernel. Its output interleaves into the transposed output (a pixel shuffle). The input
// gradient is that 3x3 convolution's input gradient (Winograd again) of the
// de-interleaved gradient.
//
// Everything is phrased with `p`, the convolution whose input gradient the transposed
// convolution is (as conv_transpose_node.cc and ops/conv_transpose.py do): p's input
// (N, C, H, W) is the transposed output, p's output (N, K, OH, OW) the transposed input.
#pragma once
#include <algorithm>
#include <cstdint>
#include <vector>

#include "cnnnative/conv_params.h"

namespace cnnnative {
namespace subpixel {

struct Geometry {
  int64_t sh = 1, sw = 1;      // the stride: phases per axis
  int64_t dmin_h = 0, dmin_w = 0;  // input offset of the 3-wide window's first tap
  int64_t mh = 0, mw = 0;      // outputs per phase: ceil(H / sh), ceil(W / sw)
  ConvParams conv;             // the stacked 3x3 stride-1 convolution (its N follows p.N)
  int64_t weight_numel() const { return conv.K * conv.C * 9; }
  int64_t stacked_numel() const { return conv.N * conv.K * mh * mw; }  // its output, floats
  int64_t phases() const { return sh * sw; }
  int64_t channels() const { return conv.K / (sh * sw); }  // the transposed output's C
  // Stacked channels are phase-major: slot * C + c, the phases in snake order (row r of
  // phases left to right when r is even, right to left when odd). A Winograd transform
  // point of a stacked 4x4 stride-2 filter is nonzero for 1, 2 or 4 phases (phase_points);
  // in this order those are few contiguous channel ranges (stacked_segments).
  int64_t slot_of(int64_t ph) const {
    const int64_t r = ph / sw, q = ph % sw;
    return r * sw + (r % 2 ? sw - 1 - q : q);
  }
  int64_t phase_of(int64_t slot) const { return slot_of(slot); }  // the snake is its own inverse
  int64_t stacked_channel(int64_t c, int64_t ph) const { return slot_of(ph) * channels() + c; }

  // The gathered forward's order instead ("blocked", where blocked_order_fits): the
  // channels in blocks of 12 / phases, each block's 12 stacked channels slot-major (slot *
  // channels in the block + the channel's place in it). A Winograd row block (12 stacked
  // channels) then holds every phase of its few channels, so each filter of w is read once
  // for all of its phases; the transform points a phase lacks become row ranges
  // (blocked_row_ranges) instead of whole row blocks skipped.
  int64_t channels_per_block() const { return 12 / phases(); }
  bool blocked_order_fits() const { return phases() <= 12 && 12 % phases() == 0; }
  int64_t channels_in_block(int64_t b) const {
    return std::min(channels_per_block(), channels() - b * channels_per_block());
  }
  int64_t blocked_channel(int64_t c, int64_t ph) const {
    const int64_t per = channels_per_block(), b = c / per;
    return b * 12 + slot_of(ph) * channels_in_block(b) + c % per;
  }
  // The inverse: the channel and phase of stacked channel ks.
  void blocked_channel_phase(int64_t ks, int64_t* c, int64_t* ph) const {
    const int64_t b = ks / 12, cb = channels_in_block(b), r = ks % 12;
    *c = b * channels_per_block() + r % cb;
    *ph = phase_of(r / cb);
  }
};

// True when p decomposes as above (groups 1, dilation 1, stride >= 2 on some axis, every
// phase inside a 3-wide window, no cropping needed); fills *g. Shape only: says nothing
// about speed.
bool decomposes(const ConvParams& p, Geometry* g);

// Per phase (r, q) of g, the source tap (kh * S + kw) of each of the 9 positions of the
// stacked 3x3 window, -1 where the phase has no tap there: (r * sw + q) * 9 + a * 3 + b.
std::vector<int64_t> window_taps(const ConvParams& p, const Geometry& g);

// Bit xi = i * (m + 2) + j set where the Winograd F(m x m, 3x3) transform G f G^T of phase
// ph's stacked 3x3 filter f (rotated by 180 degrees when `rotated`: the input gradient's)
// can be nonzero. A phase whose taps miss window row 0 has (G f)[0] = 0 exactly (G's first
// row reads tap row 0 only), and one that misses row 2 has (G f)[m + 1] = 0; likewise for
// columns. 4x4 stride 2 padding 1: 25 of 36 points per phase, so the GEMMs over the
// transform points can skip 31% of their multiplies, with the same results.
uint64_t phase_points(const ConvParams& p, const Geometry& g, int64_t ph, int m, bool rotated);

// In Geometry::blocked_channel order, per Winograd row block (12 stacked channels) and
// F(m x m) transform point xi, the rows whose phase filters can be nonzero there (whole
// phases of the block's channels, phase_points): at (block * (m + 2)^2 + xi) *
// kGatherRowRangeStride a count n and n ranges [lo, hi) (winograd_gather.h's row_ranges).
std::vector<int32_t> blocked_row_ranges(const ConvParams& p, const Geometry& g, int m);

// decomposes(p) and the decomposition is expected to be faster than GEMM + col2im: the
// stacked convolution runs on Winograd ("auto" would choose it for this pass), there are
// enough channels (and, with weight_per_call, enough tiles to repay transforming the stacked
// weight), and CNNNATIVE_ALGO forces nothing.
bool preferred(const ConvParams& p, Geometry* g, bool for_input_gradient, bool weight_per_call);

// The stacked weight (s*s*C, K, 3, 3), output channel g.stacked_channel(c, r * sw + q),
// from w (K, C, R, S).
void stacked_weight(const ConvParams& p, const Geometry& g, const float* w, float* wsub);

// True when w (K, C, R, S) holds no NaN or inf. Callers build the stacked weight only
// then: the stacked 3x3 window also covers input pixels a phase has no tap for (weight 0),
// and 0 * inf is NaN where the transposed convolution has no term at all.
bool weight_finite(const ConvParams& p, const float* w);

// dx (N, C, H, W) = transposed convolution of dy (N, K, OH, OW) with w: the stacked
// convolution into `stacked` (g.stacked_numel() floats), then interleaved into dx. wsub:
// the stacked weight, or null to gather its filters from w inside the Winograd filter
// transform (winograd_gather.h; a w with NaN or inf then runs GEMM + col2im, see
// weight_finite, unless the caller vouches with weight_known_finite that it checked). When
// dy holds a NaN or inf, GEMM + col2im instead (see weight_finite: the stacked window would
// spread it to outputs of other phases).
// bias: (C,) added to dx (while interleaving), or null.
void forward(const ConvParams& p, const Geometry& g, const float* dy, const float* w, const float* wsub,
             float* dx, float* stacked, bool weight_known_finite = false, const float* bias = nullptr);

// The stacked convolution's output (`stacked`, N x s*s*C x mh x mw, channels in
// stacked_channel order, or blocked_channel order when `blocked`) interleaved into dx,
// plus bias[c] when bias is not null.
void interleave(const ConvParams& p, const Geometry& g, const float* stacked, float* dx, const float* bias = nullptr,
                bool blocked = false);

// True when x[0, n) holds no NaN or inf (the condition for the stacked path, see forward).
bool finite(const float* x, int64_t n);

// grad_dy (N, K, OH, OW) = the convolution of grad_dx (N, C, H, W) with w (stride s):
// grad_dx de-interleaved into `stacked` (g.stacked_numel() floats), then the stacked
// convolution's input gradient; the strided convolution itself when grad_dx holds a NaN
// or inf. wsub: as for forward (null: gathered from w).
void input_gradient(const ConvParams& p, const Geometry& g, const float* grad_dx, const float* w,
                    const float* wsub, float* grad_dy, float* stacked, bool weight_known_finite = false);

// The weight gradient on Winograd F(4x4, 3x3) (conv_transpose_subpixel_wgrad.cc):
// preferred when p decomposes (fills *g), has enough channels and at least 16 tiles of
// 4x4 stacked outputs where the phases fit the blocked order (64 where they do not; fewer:
// the 36 per-point GEMMs reduce over too little), and CNNNATIVE_ALGO forces nothing.
bool weight_gradient_preferred(const ConvParams& p, Geometry* g);

// grad_w (K, C, R, S) = the weight gradient of the transposed convolution whose input is
// dy (N, K, OH, OW) and whose output gradient is grad_dx (N, C, H, W) (the convolution
// p's weight gradient with grad_dx as its image). False, nothing written, when either
// holds a NaN or inf: the caller runs the GEMM path, which keeps them where the direct
// sum has them.
bool weight_gradient(const ConvParams& p, const Geometry& g, const float* grad_dx, const float* dy, float* grad_w);

}  // namespace subpixel
}  // namespace cnnnative
