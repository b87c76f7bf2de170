// Sub-pixel decomposition of the transposed convolution (see conv_transpose_subpixel.h).
//
// Along one axis (stride s, padding pt, kernel R), transposed output o = s*m + r gets tap
// kh of input i = (o + pt - kh) / s whenever that divides: i = m + d with
// d = (r + pt - kh) / s, the same offset for every m. The offsets of all phases and taps
// span [dmin, dmax]; when that is at most 3 wide, each phase is a correlation over the
// input window [m + dmin, m + dmin + 2].
#include "conv/conv_transpose_subpixel.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <string>
#include <vector>

#include "cnnnative/conv.h"
#include "cnnnative/errors.h"
#include "cnnnative/thread_pool.h"
#include "cnnnative/threads.h"
#include "conv/nonfinite.h"
#include "conv/conv_transpose_subpixel_filter_kernels.h"
#include "conv/winograd_gather.h"
#include "conv/winograd_kernels.h"
#include "cnnnative/isa.h"

namespace cnnnative {
namespace subpixel {
namespace {

// Floor division (the offsets can be negative).
int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

// [dmin, dmax] of one axis; false when no tap lands anywhere (cannot happen for R >= 1).
bool offsets(int64_t s, int64_t pt, int64_t R, int64_t* dmin, int64_t* dmax) {
  bool any = false;
  for (int64_t r = 0; r < s; ++r)
    for (int64_t kh = 0; kh < R; ++kh) {
      const int64_t t = r + pt - kh;
      if (t - floor_div(t, s) * s != 0) continue;
      const int64_t d = floor_div(t, s);
      *dmin = any ? std::min(*dmin, d) : d;
      *dmax = any ? std::max(*dmax, d) : d;
      any = true;
    }
  return any;
}

inline void put_filter(const float* src, const int* list, float* dst) {
  for (int i = 0; i < 9; ++i) dst[i] = 0.f;
  for (int n = 0; n < list[0]; ++n) dst[list[1 + 2 * n]] = src[list[2 + 2 * n]];
}

// The stacked weight's filters gathered from w (K, C, R, S) for the Winograd filter
// transform, one row block at a time (winograd_gather.h): never built whole. Per phase,
// only its real taps are copied (4 of 9 at 4x4 stride 2) into zeroed filters. Stacked
// channel ks is phase g.phase_of(ks / C), output channel ks % C (Geometry::stacked_channel).
struct Gather {
  const float* w;
  int64_t C, RS, phases;
  Geometry geo;
  // Per phase: count, then (window position, source tap) pairs, forward and rotated.
  std::vector<int> fwd, rot;  // phases x (1 + 2 * 9)
  Gather(const float* w_, const ConvParams& p, const Geometry& g)
      : w(w_), C(p.C), RS(p.R * p.S), phases(g.sh * g.sw), geo(g),
        fwd(size_t(phases * 19), 0), rot(size_t(phases * 19), 0) {
    const std::vector<int64_t> tap = window_taps(p, g);
    for (int64_t ph = 0; ph < phases; ++ph)
      for (int i = 0; i < 9; ++i) {
        if (tap[size_t(ph * 9 + i)] >= 0) {
          int* f = fwd.data() + ph * 19;
          f[1 + 2 * f[0]] = i, f[2 + 2 * f[0]] = int(tap[size_t(ph * 9 + i)]), ++f[0];
        }
        if (tap[size_t(ph * 9 + 8 - i)] >= 0) {  // rotated by 180 degrees
          int* r = rot.data() + ph * 19;
          r[1 + 2 * r[0]] = i, r[2 + 2 * r[0]] = int(tap[size_t(ph * 9 + 8 - i)]), ++r[0];
        }
      }
    fill_taps();
  }
  // The forward's stacked channels in Geometry::blocked_channel order (else stacked_channel).
  bool blocked = false;
  // Set by the transforms that load whole filters (transform_phases) when one holds a NaN
  // or inf: their callers check the weight that way instead of scanning it first.
  mutable std::atomic<bool> nonfinite{false};
  bool loads_whole_filters = false;  // the input gradient's: input_gradient_loads_whole_filters
  int64_t phase(int64_t ks) const {
    if (!blocked) return geo.phase_of(ks / C);
    int64_t c, ph;
    geo.blocked_channel_phase(ks, &c, &ph);
    return ph;
  }
  int64_t channel(int64_t ks) const {
    if (!blocked) return ks % C;
    int64_t c, ph;
    geo.blocked_channel_phase(ks, &c, &ph);
    return c;
  }
  // Per phase, the source tap of each window position (-1: none), forward and rotated:
  // the same lists as fwd / rot, for the phase filter transform.
  std::vector<int> taps_fwd, taps_rot;  // phases x 9
  void fill_taps() {
    taps_fwd.assign(size_t(phases * 9), -1);
    taps_rot.assign(size_t(phases * 9), -1);
    for (int64_t ph = 0; ph < phases; ++ph)
      for (int n = 0; n < fwd[size_t(ph * 19)]; ++n) {
        const int pos = fwd[size_t(ph * 19 + 1 + 2 * n)], tap = fwd[size_t(ph * 19 + 2 + 2 * n)];
        taps_fwd[size_t(ph * 9 + pos)] = tap;
        taps_rot[size_t(ph * 9 + 8 - pos)] = tap;
      }
  }
};

// Zero filters for the rows [rows, 12) of a packed row block's panel at u.
void zero_rows(int rows, float* u, int64_t xi_stride) {
  for (int xi = 0; xi < 36; ++xi)
    for (int r = rows; r < int(kGatherRowBlock); ++r) std::fill(u + xi * xi_stride + r * 16, u + xi * xi_stride + r * 16 + 16, 0.f);
}

// FilterGather::transform of the input gradient: rows the K inputs, the lanes 16 stacked
// channels (one panel); a panel of one phase reads 16 consecutive filters w[k, c, :, :]
// (rotated taps), one that spans two phases (C not a multiple of 16) goes through put_filter
// and the generic transform.
// Whether the F(4x4) filter transforms load every phase of 16 whole filters at once
// (transform_phases): the forward in blocked order, and the input gradient when each
// 16-channel panel holds one phase (C % 16 == 0). Those transforms find a NaN or inf in w
// themselves (Gather::nonfinite).
bool phase_kernel_fits(const ConvParams& p, const Geometry& g, int m) {  // F(4x4), <= 4 phases, <= 16 taps
  return m == 4 && g.phases() <= PhaseFilterBlockArgs::kMaxPhases && p.R * p.S <= 16;
}
bool forward_loads_whole_filters(const ConvParams& p, const Geometry& g, int m) {
  return phase_kernel_fits(p, g, m) && g.blocked_order_fits();
}
bool input_gradient_loads_whole_filters(const ConvParams& p, const Geometry& g, int m) {
  return phase_kernel_fits(p, g, m) && p.C % 16 == 0;
}

void transform_input_gradient(const void* ctx, int64_t k0, int rows, int64_t Cg, float* u, int64_t xi_stride,
                              bool zero_points) {
  const Gather& s = *static_cast<const Gather*>(ctx);
  const PhaseFilterKernels& kern = phase_filter_kernels_for(active_isa());
  if (s.loads_whole_filters) {
    // Every phase of 16 output channels from one load of their filters w[k, c .. c + 15]
    // (contiguous): the panels of the phases' slots (slot * C + c) / 16 at once.
    PhaseFilterBlockArgs a;
    a.lane_stride = s.RS;
    a.taps_per_filter = static_cast<int>(s.RS);
    a.phases = static_cast<int>(s.phases);
    a.xi_stride = xi_stride;
    a.zero_points = zero_points;  // a phase-pure panel is outside the segments where it is zero
    for (int64_t slot = 0; slot < s.phases; ++slot) a.taps[slot] = s.taps_rot.data() + s.geo.phase_of(slot) * 9;
    auto panel = [&](int64_t slot, int64_t c) { return u + (slot * s.C + c) / 16 * 16 * kGatherRowBlock; };
    for (int64_t c = 0; c < s.C; c += 16) {
      for (int r = 0; r < rows; ++r) {
        a.base = s.w + ((k0 + r) * s.C + c) * s.RS;
        for (int64_t slot = 0; slot < s.phases; ++slot) a.u[slot] = panel(slot, c) + r * 16;
        if (!kern.transform_phases(a)) s.nonfinite.store(true, std::memory_order_relaxed);
      }
      for (int64_t slot = 0; slot < s.phases; ++slot) zero_rows(rows, panel(slot, c), xi_stride);
    }
    return;
  }
  int32_t off[16];
  for (int l = 0; l < 16; ++l) off[l] = static_cast<int32_t>(l * s.RS);
  PhaseFilterArgs a;
  a.lane_offset = off;
  a.xi_stride = xi_stride;
  float f[kGatherRowBlock * 16 * 9];
  for (int64_t c0 = 0; c0 < Cg; c0 += 16) {
    float* panel = u + (c0 / 16) * 16 * kGatherRowBlock;
    const int lanes = static_cast<int>(std::min<int64_t>(16, Cg - c0));
    const int64_t ph = s.phase(c0);
    if (s.phase(c0 + lanes - 1) != ph) {
      for (int r = 0; r < rows; ++r) {
        const float* wk = s.w + (k0 + r) * s.C * s.RS;
        for (int l = 0; l < lanes; ++l)
          put_filter(wk + ((c0 + l) % s.C) * s.RS, s.rot.data() + s.phase(c0 + l) * 19, f + (r * 16 + l) * 9);
      }
      winograd::kernels_for(active_isa(), 4).filter_transform(f, 16 * 9, rows, lanes, panel, xi_stride);
      continue;
    }
    a.lanes = lanes;
    a.taps = s.taps_rot.data() + ph * 9;
    for (int r = 0; r < rows; ++r) {
      a.base = s.w + ((k0 + r) * s.C + c0 % s.C) * s.RS;
      a.u = panel + r * 16;
      kern.transform(a);
    }
    zero_rows(rows, panel, xi_stride);
  }
}

// FilterGather::transform of the forward in blocked order (Geometry::blocked_channel): a
// row block is the few channels c of block k0 / 12, each in every phase; the lanes are 16
// of the K inputs (one panel). The 16 filters w[k + l, c] (C * R * S floats apart: 16 KB at
// DCGAN 512->256) are loaded whole once and give every phase's taps
// (PhaseFilterKernels::transform_phases). Phase-major rows gathered each phase's taps from
// those 16 lines again: about a third of DCGAN 512->256's eager forward.
void transform_forward_blocked(const void* ctx, int64_t k0, int rows, int64_t Cg, float* u, int64_t xi_stride,
                               bool zero_points) {
  const Gather& s = *static_cast<const Gather*>(ctx);
  const PhaseFilterKernels& kern = phase_filter_kernels_for(active_isa());
  const int64_t b = k0 / kGatherRowBlock, cb = s.geo.channels_in_block(b);
  const int64_t c0 = b * s.geo.channels_per_block();
  PhaseFilterBlockArgs a;
  a.lane_stride = s.C * s.RS;
  a.taps_per_filter = static_cast<int>(s.RS);
  a.phases = static_cast<int>(s.phases);
  a.xi_stride = xi_stride;
  a.zero_points = zero_points;  // rows outside the row ranges are not read
  for (int64_t slot = 0; slot < s.phases; ++slot) a.taps[slot] = s.taps_fwd.data() + s.geo.phase_of(slot) * 9;
  for (int64_t k = 0; k < Cg; k += 16) {
    float* panel = u + (k / 16) * 16 * kGatherRowBlock;
    a.lanes = static_cast<int>(std::min<int64_t>(16, Cg - k));
    // The next panel's lines (the hardware prefetchers do not follow the 16 KB stride).
    for (int64_t l = 16; l < 32 && k + l < Cg; ++l)
      for (int64_t j = 0; j < cb; ++j) __builtin_prefetch(s.w + ((k + l) * s.C + c0 + j) * s.RS);
    for (int64_t j = 0; j < cb; ++j) {
      a.base = s.w + (k * s.C + c0 + j) * s.RS;
      for (int64_t slot = 0; slot < s.phases; ++slot) a.u[slot] = panel + (slot * cb + j) * 16;
      if (!kern.transform_phases(a)) s.nonfinite.store(true, std::memory_order_relaxed);
    }
    zero_rows(rows, panel, xi_stride);
  }
}

// Forward rows: stacked channels ks, columns the K inputs. Input channel outermost:
// w[k, c, :, :] of the block's few c is read once.
void gather_forward(const void* ctx, int64_t k0, int rows, int64_t Cg, float* f) {
  const Gather& s = *static_cast<const Gather*>(ctx);
  for (int64_t k = 0; k < Cg; ++k) {
    // w[k, c, :, :] rows lie C * R * S floats apart: fetch a few k ahead (the hardware
    // prefetchers do not follow that stride; without it the gather waited on memory).
    if (k + 8 < Cg)
      for (int r = 0; r < rows; ++r) __builtin_prefetch(s.w + ((k + 8) * s.C + s.channel(k0 + r)) * s.RS);
    for (int r = 0; r < rows; ++r) {
      const int64_t ks = k0 + r;
      put_filter(s.w + (k * s.C + s.channel(ks)) * s.RS, s.fwd.data() + s.phase(ks) * 19, f + (r * Cg + k) * 9);
    }
  }
}

// Input-gradient rows: the K inputs, columns the stacked channels, taps rotated by 180.
void gather_input_gradient(const void* ctx, int64_t k0, int rows, int64_t Cg, float* f) {
  const Gather& s = *static_cast<const Gather*>(ctx);
  for (int r = 0; r < rows; ++r) {
    const float* wk = s.w + (k0 + r) * s.C * s.RS;  // w[k, :, :, :], contiguous
    for (int64_t ks = 0; ks < Cg; ++ks)
      put_filter(wk + (ks % s.C) * s.RS, s.rot.data() + s.phase(ks) * 19, f + (r * Cg + ks) * 9);
  }
}

// The forward's row blocks (winograd::kRowBlock stacked channels each): the points where
// any of their filters can be nonzero (FilterGather::points).
std::vector<uint64_t> row_block_points(const ConvParams& p, const Geometry& g, int m) {
  const int64_t Ks = g.conv.K, C = g.channels(), blocks = (Ks + kGatherRowBlock - 1) / kGatherRowBlock;
  std::vector<uint64_t> per_phase(size_t(g.phases()));
  for (int64_t ph = 0; ph < g.phases(); ++ph) per_phase[size_t(ph)] = phase_points(p, g, ph, m, false);
  std::vector<uint64_t> points(size_t(blocks), 0);
  for (int64_t ks = 0; ks < Ks; ++ks) points[size_t(ks / kGatherRowBlock)] |= per_phase[size_t(g.phase_of(ks / C))];
  return points;
}

// The input gradient's reduction (over stacked channels) per transform point: the slots
// whose rotated filters can be nonzero there, as ranges widened to whole 16-channel panels
// (FilterGather::segments).
std::vector<int64_t> input_gradient_segments(const ConvParams& p, const Geometry& g, int m) {
  const int nxi = (m + 2) * (m + 2);
  const int64_t C = g.channels(), Ks = g.conv.K, slots = g.phases();
  std::vector<int64_t> seg(size_t(nxi * kGatherSegmentStride), 0);
  for (int xi = 0; xi < nxi; ++xi) {
    int64_t* out = seg.data() + xi * kGatherSegmentStride;
    int n = 0;
    for (int64_t slot = 0; slot < slots; ++slot) {
      if (!(phase_points(p, g, g.phase_of(slot), m, true) >> xi & 1)) continue;
      const int64_t lo = (slot * C) / 16 * 16, hi = std::min(Ks, ((slot + 1) * C + 15) / 16 * 16);
      if (n > 0 && lo <= out[2 * n]) {
        out[2 * n] = std::max(out[2 * n], hi);  // extends the last range
      } else if (n < kGatherMaxSegments) {
        out[1 + 2 * n] = lo, out[2 + 2 * n] = hi, ++n;
      } else {  // too many ranges: the whole reduction
        n = 1, out[1] = 0, out[2] = Ks;
        break;
      }
    }
    out[0] = n;
  }
  return seg;
}

// The Winograd tile `auto` runs the stacked convolution with, 0 when it is not Winograd.
int chosen_tile(const ConvParams& c, bool for_input_gradient) {
  const std::string a = choose_conv_algorithm(c, for_input_gradient);
  if (a == "winograd2x2") return 2;
  if (a == "winograd4x4") return 4;
  if (a == "winograd6x6") return 6;
  if (a == "winograd") return winograd_tile_for(c, for_input_gradient);
  return 0;
}

}  // namespace

std::vector<int64_t> window_taps(const ConvParams& p, const Geometry& g) {
  std::vector<int64_t> tap(size_t(g.sh * g.sw * 9), -1);
  for (int64_t r = 0; r < g.sh; ++r)
    for (int64_t q = 0; q < g.sw; ++q)
      for (int64_t a = 0; a < 3; ++a)
        for (int64_t b = 0; b < 3; ++b) {
          const int64_t kh = r + p.pad_top - g.sh * (a + g.dmin_h);
          const int64_t kw = q + p.pad_left - g.sw * (b + g.dmin_w);
          if (kh >= 0 && kh < p.R && kw >= 0 && kw < p.S) tap[size_t((r * g.sw + q) * 9 + a * 3 + b)] = kh * p.S + kw;
        }
  return tap;
}

uint64_t phase_points(const ConvParams& p, const Geometry& g, int64_t ph, int m, bool rotated) {
  const std::vector<int64_t> tap = window_taps(p, g);
  int rows = 0, cols = 0;  // window rows / columns holding a tap (bit a, bit b)
  for (int a = 0; a < 3; ++a)
    for (int b = 0; b < 3; ++b)
      if (tap[size_t(ph * 9 + a * 3 + b)] >= 0) {
        rows |= 1 << (rotated ? 2 - a : a);
        cols |= 1 << (rotated ? 2 - b : b);
      }
  // G's first row reads tap 0 only, its last tap 2 only, the others all three (F(2x2),
  // F(4x4) and F(6x6) alike).
  const int A = m + 2;
  auto active = [&](int taps, int i) { return i == 0 ? (taps & 1) != 0 : i == A - 1 ? (taps & 4) != 0 : taps != 0; };
  uint64_t points = 0;
  for (int i = 0; i < A; ++i)
    for (int j = 0; j < A; ++j)
      if (active(rows, i) && active(cols, j)) points |= uint64_t(1) << (i * A + j);
  return points;
}

std::vector<int32_t> blocked_row_ranges(const ConvParams& p, const Geometry& g, int m) {
  const int nxi = (m + 2) * (m + 2);
  const int64_t phases = g.phases(), blocks = (g.conv.K + kGatherRowBlock - 1) / kGatherRowBlock;
  std::vector<uint64_t> slot_points(static_cast<size_t>(phases));
  for (int64_t slot = 0; slot < phases; ++slot)
    slot_points[size_t(slot)] = phase_points(p, g, g.phase_of(slot), m, false);
  std::vector<int32_t> ranges(size_t(blocks * nxi * kGatherRowRangeStride), 0);
  for (int64_t b = 0; b < blocks; ++b) {
    const int32_t cb = static_cast<int32_t>(g.channels_in_block(b));
    for (int xi = 0; xi < nxi; ++xi) {
      int32_t* out = ranges.data() + (b * nxi + xi) * kGatherRowRangeStride;
      for (int64_t slot = 0; slot < phases; ++slot) {
        if (!(slot_points[size_t(slot)] >> xi & 1)) continue;
        const int32_t lo = static_cast<int32_t>(slot) * cb, hi = lo + cb;
        if (out[0] > 0 && out[2 * out[0]] == lo)
          out[2 * out[0]] = hi;  // extends the last range
        else
          out[1 + 2 * out[0]] = lo, out[2 + 2 * out[0]] = hi, ++out[0];
      }
    }
  }
  return ranges;
}

bool decomposes(const ConvParams& p, Geometry* g) {
  if (p.groups != 1 || p.dilation_h != 1 || p.dilation_w != 1) return false;
  if (p.stride_h * p.stride_w < 2) return false;  // stride 1: an ordinary 3x3 conv already
  // Fewer than 3.5 direct taps per phase output gain too little over Winograd's 2.25
  // (U-Net's 2x2 stride 2 has 1, 3x3 stride 2 has 2.25); DCGAN's 4x4 stride 2 has 4.
  if (2 * p.R * p.S < 7 * p.stride_h * p.stride_w) return false;
  Geometry q;
  q.sh = p.stride_h, q.sw = p.stride_w;
  int64_t dmax_h = 0, dmax_w = 0;
  if (!offsets(q.sh, p.pad_top, p.R, &q.dmin_h, &dmax_h) || !offsets(q.sw, p.pad_left, p.S, &q.dmin_w, &dmax_w))
    return false;
  if (dmax_h - q.dmin_h > 2 || dmax_w - q.dmin_w > 2) return false;
  if (q.dmin_h > 0 || q.dmin_w > 0) return false;  // the window would start past the padding
  const int64_t OH = p.output_h(), OW = p.output_w();
  q.mh = (p.H + q.sh - 1) / q.sh;
  q.mw = (p.W + q.sw - 1) / q.sw;
  // The stacked convolution: input dy (N, K, OH, OW) padded by -dmin before and whatever
  // makes mh (mw) outputs after; a negative amount would need a cropped input.
  ConvParams& c = q.conv;
  c.N = p.N, c.C = p.K, c.H = OH, c.W = OW;
  c.K = checked_numel({q.sh, q.sw, p.C}, "sub-pixel channels");
  c.R = c.S = 3;
  c.pad_top = -q.dmin_h, c.pad_left = -q.dmin_w;
  c.pad_bottom = q.mh + 2 - OH - c.pad_top;
  c.pad_right = q.mw + 2 - OW - c.pad_left;
  if (c.pad_bottom < 0 || c.pad_right < 0) return false;
  if (c.output_h() != q.mh || c.output_w() != q.mw) return false;
  *g = q;
  return true;
}

bool preferred(const ConvParams& p, Geometry* g, bool for_input_gradient, bool weight_per_call) {
  if (!forced_conv_algorithm().empty()) return false;
  // Few channels: the transforms outweigh the saved multiplies (DCGAN's last 64 -> 3
  // layer, measured on AVX2 with the phases as separate 2x2 convolutions: GEMM + col2im
  // 2.9 ms, the phases 5.8 ms; benchmarks/RESULTS.md).
  if (p.K < 32 || p.C < 16 || p.N < 1) return false;
  if (!decomposes(p, g)) return false;
  // Transforming the filters per call (the stacked ones gathered from w inside the
  // transform, winograd_gather.h) is repaid from 16 tiles of 4x4: DCGAN 512->256 at 4x4
  // -> 8x8, batch 16 (16 tiles), eager forward 0.78-0.92x torch on GEMM + col2im, 0.96-1.02x
  // gathered (one thread, loaded machine; benchmarks/RESULTS.md). With the stacked weight
  // built whole first (3.1 ms there) it took 64 tiles.
  const int64_t tiles = p.N * ((g->mh + 3) / 4) * ((g->mw + 3) / 4);
  if (weight_per_call && tiles < 16) return false;
  return choose_conv_algorithm(g->conv, for_input_gradient).rfind("winograd", 0) == 0;
}

void stacked_weight(const ConvParams& p, const Geometry& g, const float* w, float* wsub) {
  const int64_t K = p.K, C = p.C, R = p.R, S = p.S, phases = g.sh * g.sw;
  const std::vector<int64_t> tap = window_taps(p, g);
  // One output channel c at a time: its R*S taps of each k are one contiguous run of w
  // (read once), and its s*s phase rows of wsub are written, zeros included.
  team_for_each(num_threads(), C, [&](int64_t c) {
    for (int64_t k = 0; k < K; ++k) {
      const float* src = w + (k * C + c) * R * S;
      for (int64_t ph = 0; ph < phases; ++ph) {
        float* dst = wsub + (g.stacked_channel(c, ph) * K + k) * 9;
        const int64_t* t = tap.data() + ph * 9;
        for (int i = 0; i < 9; ++i) dst[i] = t[i] >= 0 ? src[t[i]] : 0.f;
      }
    }
  });
}

bool weight_finite(const ConvParams& p, const float* w) {
  return nonfinite::all_finite(w, p.weight_numel(), num_threads());
}

void forward(const ConvParams& p, const Geometry& g, const float* dy, const float* w, const float* wsub,
             float* dx, float* stacked, bool weight_known_finite, const float* bias) {
  ConvParams c = g.conv;
  c.N = p.N;
  if (p.N == 0) return;
  // NaN/inf in dy or w: GEMM + col2im (see weight_finite).
  auto gemm_path = [&] {
    conv2d_backward_input(p, dy, w, dx, "auto");
    if (bias)
      team_for_each(num_threads(), p.N * p.C, [&](int64_t nc) {
        float* plane = dx + nc * p.H * p.W;
        const float b = bias[nc % p.C];
        for (int64_t i = 0; i < p.H * p.W; ++i) plane[i] += b;
      });
  };
  const int m = wsub ? 0 : chosen_tile(c, false);
  // The blocked order where its transform runs: F(4x4) (the phase filter kernels'), phases
  // filling row blocks, filters of at most 16 taps (one vector). That transform finds a NaN
  // or inf in w itself; the other gathers need w scanned first.
  const bool blocked = forward_loads_whole_filters(p, g, m);
  if (!nonfinite::all_finite(dy, p.N * p.K * p.output_h() * p.output_w(), num_threads()) ||
      (!wsub && !blocked && !weight_known_finite && !weight_finite(p, w))) {
    gemm_path();
    return;
  }
  if (wsub) {
    conv2d_forward(c, dy, wsub, nullptr, stacked, "auto");
  } else {
    Gather ctx(w, p, g);
    if (m) {
      FilterGather filters{&gather_forward, &ctx};
      std::vector<uint64_t> points;
      std::vector<int32_t> ranges;
      if (blocked) {
        ctx.blocked = true;
        ranges = blocked_row_ranges(p, g, m);
        filters.row_ranges = ranges.data();
        filters.transform = &transform_forward_blocked;
      } else {
        points = row_block_points(p, g, m);
        filters.points = points.data();
      }
      winograd_forward_gathered(c, m, filters, dy, stacked);
      if (ctx.nonfinite.load()) {  // w held a NaN or inf: the result above is discarded
        gemm_path();
        return;
      }
    } else {  // auto would not run Winograd (preferred() said it would): build the weight
      std::vector<float> built(size_t(g.weight_numel()));
      stacked_weight(p, g, w, built.data());
      conv2d_forward(c, dy, built.data(), nullptr, stacked, "auto");
    }
  }
  interleave(p, g, stacked, dx, bias, blocked);
}

bool finite(const float* x, int64_t n) { return nonfinite::all_finite(x, n, num_threads()); }

void interleave(const ConvParams& p, const Geometry& g, const float* stacked, float* dx, const float* bias,
                bool blocked) {
  const int64_t plane = g.mh * g.mw, planes = p.N * p.C;
  team_for_each(num_threads(), planes, [&](int64_t nc) {
    const int64_t n = nc / p.C, c = nc % p.C;
    const float* src = stacked + n * g.sh * g.sw * p.C * plane;  // image n's stacked planes
    float* dst = dx + nc * p.H * p.W;
    const float b = bias ? bias[nc % p.C] : 0.f;
    for (int64_t o = 0; o < p.H; ++o) {
      const int64_t m = o / g.sh, r = o % g.sh;
      float* row = dst + o * p.W;
      for (int64_t q = 0; q < g.sw; ++q) {
        const int64_t ph = r * g.sw + q;
        const int64_t ks = blocked ? g.blocked_channel(c, ph) : g.stacked_channel(c, ph);
        const float* s = src + ks * plane + m * g.mw;
        const int64_t cols = (p.W - q + g.sw - 1) / g.sw;  // columns q, q + sw, ... below W
        if (bias)
          for (int64_t j = 0; j < cols; ++j) row[j * g.sw + q] = s[j] + b;
        else
          for (int64_t j = 0; j < cols; ++j) row[j * g.sw + q] = s[j];
      }
    }
  });
}

void input_gradient(const ConvParams& p, const Geometry& g, const float* grad_dx, const float* w,
                    const float* wsub, float* grad_dy, float* stacked, bool weight_known_finite) {
  ConvParams c = g.conv;
  c.N = p.N;
  if (p.N == 0) return;
  const int m = wsub ? 0 : chosen_tile(c, true);
  const bool whole_filters = input_gradient_loads_whole_filters(p, g, m);  // w checked while transformed
  if (!nonfinite::all_finite(grad_dx, p.N * p.C * p.H * p.W, num_threads()) ||
      (!wsub && !whole_filters && !weight_known_finite && !weight_finite(p, w))) {
    conv2d_forward(p, grad_dx, w, nullptr, grad_dy, "auto");
    return;
  }
  const int64_t plane = g.mh * g.mw, planes = p.N * p.C;
  team_for_each(num_threads(), planes, [&](int64_t nc) {
    const int64_t n = nc / p.C, c = nc % p.C;
    const float* src = grad_dx + nc * p.H * p.W;
    float* dst = stacked + n * g.sh * g.sw * p.C * plane;  // image n's stacked planes
    for (int64_t r = 0; r < g.sh; ++r)
      for (int64_t q = 0; q < g.sw; ++q) {
        float* d = dst + g.stacked_channel(c, r * g.sw + q) * plane;
        for (int64_t m = 0; m < g.mh; ++m) {
          const int64_t o = m * g.sh + r;
          float* row = d + m * g.mw;
          if (o >= p.H) {  // the phase's last row lies beyond the image: zero gradient
            std::fill(row, row + g.mw, 0.f);
            continue;
          }
          const float* s = src + o * p.W + q;
          const int64_t cols = (p.W - q + g.sw - 1) / g.sw;
          for (int64_t j = 0; j < cols; ++j) row[j] = s[j * g.sw];
          std::fill(row + cols, row + g.mw, 0.f);
        }
      }
  });
  if (wsub) {
    conv2d_backward_input(c, stacked, wsub, grad_dy, "auto");
    return;
  }
  Gather ctx(w, p, g);
  ctx.loads_whole_filters = whole_filters;
  if (m) {
    const std::vector<int64_t> segments = input_gradient_segments(p, g, m);
    FilterGather filters{&gather_input_gradient, &ctx};
    filters.segments = segments.data();
    filters.transform = &transform_input_gradient;
    winograd_backward_input_gathered(c, m, filters, stacked, grad_dy);
    if (ctx.nonfinite.load()) conv2d_forward(p, grad_dx, w, nullptr, grad_dy, "auto");  // w held a NaN or inf
  } else {
    std::vector<float> built(size_t(g.weight_numel()));
    stacked_weight(p, g, w, built.data());
    conv2d_backward_input(c, stacked, built.data(), grad_dy, "auto");
  }
}

}  // namespace subpixel
}  // namespace cnnnative
