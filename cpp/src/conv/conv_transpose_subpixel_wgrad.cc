// Weight gradient of the sub-pixel transposed convolution on Winograd F(4x4, 3x3)
// (see conv_transpose_subpixel.h).
//
// The forward is the stacked 3x3 stride-1 convolution Y = A^T [U (.) V] A per 4x4 output
// tile (U = G wsub G^T, V = B^T d B), so its weight gradient is, per transform point xi,
// dU[xi] = sum over tiles of D[xi] V[xi]^T with D = A dY A^T, then dwsub = G^T dU G: 36
// GEMMs (stacked channels x input channels, reduced over the tiles) instead of the
// direct 9 taps per output -- 2.25 multiplies per output pixel and tap-window against
// the 4 real taps of a 4x4 stride-2 phase (1.78x fewer). Only the real taps of the
// zero-padded stacked weight are gathered back into grad_w.
//
// Layout: the GEMMs run on the forward Winograd's packed-filter kernel (winograd::Kernels::
// wgemm: 12 rows x 32 lanes, reduced over a packed dimension), with the tiles as that
// dimension, 12 stacked channels as the rows and 32 input channels as the lanes. So the
// transforms write straight into its operand layouts (no packing per call): D as
// [xi][row block][tile / 16][12][16] (the output gradient's tiles, read from the
// interleaved grad_output, no de-interleaved copy) and V as [xi][channel block][tile][32]
// (the 2-D Winograd's own input transform, transposed 32 x 32), in chunks of tiles. Each (row block, channel
// block) item then runs its 36 GEMMs into a 36 x 12 x 32 dU in L1/L2 and reduces it by
// G^T . G to the real taps right away: dU never goes to memory.
#include <algorithm>
#include <vector>

#include "autotune.h"
#include "cnnnative/conv.h"
#include "cnnnative/errors.h"
#include "cnnnative/gemm.h"
#include "cnnnative/isa.h"
#include "cnnnative/thread_pool.h"
#include "cnnnative/threads.h"
#include "conv/conv_transpose_subpixel.h"
#include "conv/conv_transpose_subpixel_wgrad_kernels.h"
#include "conv/nonfinite.h"
#include "conv/winograd_gather.h"
#include "winograd_kernels.h"

namespace cnnnative {
namespace subpixel {
namespace {

constexpr int kM = 4, kA = kM + 2, kXi = kA * kA, kL = kWgLanes;

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

constexpr int64_t kRB = winograd::kRowBlock;  // stacked channels per GEMM row block

struct Plan {
  int64_t N, Cs, Ks, H, W;  // the stacked convolution's input (the transposed input)
  int64_t mh, mw, TH, TW, tiles, blocks;
  int64_t pad_top, pad_left;
};

// Where each tile of each phase plane sits in grad_dx (N, C, H, W): per (tile block,
// phase) and lane, the offset of its first pixel (m*sh + r, j*sw + q) from channel c's
// plane of image 0, and how many of its 4 rows and columns lie inside the image.
struct TileTable {
  std::vector<int64_t> offset;
  std::vector<int> rows, cols;
};

TileTable tile_table(const ConvParams& p, const Geometry& g, const Plan& q) {
  const int64_t phases = g.sh * g.sw, per_image = q.TH * q.TW, n_entries = q.blocks * phases * kL;
  TileTable t{std::vector<int64_t>(size_t(n_entries), 0), std::vector<int>(size_t(n_entries), 0),
              std::vector<int>(size_t(n_entries), 0)};
  for (int64_t block = 0; block < q.blocks; ++block)
    for (int64_t ph = 0; ph < phases; ++ph)
      for (int64_t l = 0; l < kL && block * kL + l < q.tiles; ++l) {
        const int64_t tile = block * kL + l, n = tile / per_image, tr = (tile % per_image) / q.TW, tc = tile % q.TW;
        const int64_t oh0 = tr * kM * g.sh + ph / g.sw, ow0 = tc * kM * g.sw + ph % g.sw;
        const size_t e = size_t((block * phases + ph) * kL + l);
        t.offset[e] = n * p.C * p.H * p.W + oh0 * p.W + ow0;
        t.rows[e] = static_cast<int>(std::clamp<int64_t>(oh0 < p.H ? ceil_div(p.H - oh0, g.sh) : 0, 0, kM));
        t.cols[e] = static_cast<int>(std::clamp<int64_t>(ow0 < p.W ? ceil_div(p.W - ow0, g.sw) : 0, 0, kM));
      }
  return t;
}

// Per phase, its real taps: window position a * 3 + b and source tap kh * S + kw.
struct PhaseTaps {
  std::vector<int> ab;
  std::vector<int64_t> tap;
};

// window_taps (conv_transpose_subpixel.h) as lists of the real taps per phase.
std::vector<PhaseTaps> phase_taps(const ConvParams& p, const Geometry& g) {
  const std::vector<int64_t> window = window_taps(p, g);
  std::vector<PhaseTaps> taps(size_t(g.sh * g.sw));
  for (size_t phase = 0; phase < taps.size(); ++phase)
    for (int ab = 0; ab < 9; ++ab)
      if (const int64_t tap = window[phase * 9 + size_t(ab)]; tap >= 0) {
        taps[phase].ab.push_back(ab);
        taps[phase].tap.push_back(tap);
      }
  return taps;
}

}  // namespace

bool weight_gradient_preferred(const ConvParams& p, Geometry* g) {
  if (!forced_conv_algorithm().empty()) return false;
  if (p.K < 32 || p.C < 16 || p.N < 1) return false;
  if (!decomposes(p, g)) return false;
  // Few tiles: the 36 GEMMs reduce over too little to repay dU (36 x the stacked weight).
  // In the blocked order (whole filters of grad_w per row block) 16 tiles repay it: DCGAN
  // 512->256 (4x4 -> 8x8, batch 16) 5.9 ms against 7.7 on GEMM, 128->64 at 4x4 0.56
  // against 0.95 (2 threads, Zen 4); in the phase-major order 512->256 took 11.8 ms there.
  const int64_t tiles = p.N * ceil_div(g->mh, kM) * ceil_div(g->mw, kM);
  return tiles >= (g->blocked_order_fits() ? 16 : 64);
}

bool weight_gradient(const ConvParams& p, const Geometry& g, const float* grad_dx, const float* dy, float* grad_w) {
  if (p.N == 0) {
    std::fill(grad_w, grad_w + p.weight_numel(), 0.f);
    return true;
  }
  const int nt = num_threads();
  // NaN/inf: Winograd would spread one over its tile (and 0 * inf at the zero taps); the
  // caller's GEMM path gives the direct sum's values.
  if (!nonfinite::all_finite(grad_dx, p.input_numel(), nt) || !nonfinite::all_finite(dy, p.output_numel(), nt))
    return false;
  Plan q;
  q.N = p.N, q.Cs = g.conv.C, q.Ks = g.conv.K, q.H = g.conv.H, q.W = g.conv.W;
  q.mh = g.mh, q.mw = g.mw, q.TH = ceil_div(g.mh, kM), q.TW = ceil_div(g.mw, kM);
  q.tiles = checked_numel({q.N, q.TH, q.TW}, "sub-pixel tiles");
  q.blocks = ceil_div(q.tiles, kL);
  q.pad_top = g.conv.pad_top, q.pad_left = g.conv.pad_left;
  const int64_t KB = ceil_div(q.Ks, kRB), CB = ceil_div(q.Cs, kL);
  // Tile blocks in chunks whose V stays within 32 MiB (a big batch or image would otherwise
  // hold every tile's transform at once); grad_w is the sum of the chunks' (linear) parts.
  // The DCGAN layers of the benchmark fit one chunk (2 and 8 blocks).
  const int64_t v_block = checked_numel({kXi, CB, kL * kL}, "sub-pixel V");
  const int64_t chunk = std::max<int64_t>(1, (int64_t(32) << 20) / int64_t(sizeof(float)) / v_block);
  const int64_t ld = std::min(chunk, q.blocks) * kL;  // tiles of the largest chunk
  // One xi's operands: D of a row block (ld/16 panels of 12 x 16), V of a channel block.
  const int64_t d_kb = checked_mul(ld, kRB, "sub-pixel D"), v_cb = checked_mul(ld, kL, "sub-pixel V");
  const int64_t vs = checked_mul(CB, v_cb, "sub-pixel V");
  ScratchBuffer V(static_cast<size_t>(checked_mul(kXi, vs, "sub-pixel V")));
  const winograd::Kernels& kern = winograd::kernels_for(active_isa(), kM);
  const WgradKernels& wk = wgrad_kernels_for(active_isa());
  const int64_t phases = g.sh * g.sw, RS = p.R * p.S, Cout = g.channels();
  const TileTable tiles = tile_table(p, g, q);
  const auto taps = phase_taps(p, g);
  // Stacked channel k is output channel channel_of(k) of phase phase_of(k), in the blocked
  // order (Geometry::blocked_channel) where it fits: a row block then holds every phase of
  // its few channels, so the block writes whole filters of grad_w (16 taps of a 4x4 kernel,
  // one cache line) once. In the phase-major order (k % Cout of phase k / Cout) each block
  // wrote 4 taps of 12 filters, and every line of grad_w was read and written once per
  // phase: a third of DCGAN 512->256's weight gradient. The GEMMs run only where one of the
  // row's phases' G f G^T can be nonzero (phase_points: dU elsewhere meets a zero of G in
  // the reduction to taps): per point the row ranges of the blocked order, or whole row
  // blocks in the phase-major one.
  const bool blocked = g.blocked_order_fits();
  auto phase_of = [&](int64_t k) {
    if (!blocked) return g.phase_of(k / Cout);
    int64_t c, ph;
    g.blocked_channel_phase(k, &c, &ph);
    return ph;
  };
  auto channel_of = [&](int64_t k) {
    if (!blocked) return k % Cout;
    int64_t c, ph;
    g.blocked_channel_phase(k, &c, &ph);
    return c;
  };
  std::vector<uint64_t> per_phase(static_cast<size_t>(phases));
  for (int64_t ph = 0; ph < phases; ++ph) per_phase[size_t(ph)] = phase_points(p, g, ph, kM, false);
  std::vector<int32_t> row_ranges;
  if (blocked) {
    row_ranges = blocked_row_ranges(p, g, kM);
  } else {
    row_ranges.assign(size_t(KB * kXi * kGatherRowRangeStride), 0);
    for (int64_t kb = 0; kb < KB; ++kb) {
      uint64_t points = 0;
      for (int64_t k = kb * kRB; k < std::min(q.Ks, (kb + 1) * kRB); ++k) points |= per_phase[size_t(phase_of(k))];
      for (int xi = 0; xi < kXi; ++xi)
        if (points >> xi & 1) {  // the whole row block
          int32_t* r = row_ranges.data() + (kb * kXi + xi) * kGatherRowRangeStride;
          r[0] = 1, r[1] = 0, r[2] = static_cast<int32_t>(std::min<int64_t>(kRB, q.Ks - kb * kRB));
        }
    }
  }
  for (int64_t b0 = 0; b0 < q.blocks; b0 += chunk) {
    const int64_t nb = std::min(chunk, q.blocks - b0);
    // The GEMMs' reduction: the chunk's tiles in whole panels of 16 (D is zero past them).
    const int64_t reduce_len = ceil_div(std::min(nb * kL, q.tiles - b0 * kL), 16) * 16;
    const bool first_chunk = b0 == 0;
    // V: (tile block, channel block of 32 inputs) items.
    const int64_t v_items = nb * CB;
    run_team(nt, [&](int tid, int team) {
      ScratchBuffer scratch(size_t(kL * kXi * kL));
      float (*tmp)[kXi][kL] = reinterpret_cast<float (*)[kXi][kL]>(scratch.data());  // [channel][xi][tile lane]
      const auto [first, end] = team_share(v_items, tid, team);
      for (int64_t item = first; item < end; ++item) {
        const int64_t i = item % nb, block = b0 + i, cb = item / nb;
        winograd::InputTransformArgs a;
        a.tiles.tile_begin = block * kL;
        a.tiles.tile_end = std::min(a.tiles.tile_begin + kL, q.tiles);
        a.tiles.TH = q.TH, a.tiles.TW = q.TW, a.tiles.pad_top = q.pad_top, a.tiles.pad_left = q.pad_left;
        a.image_stride = q.Cs * q.H * q.W;
        a.H = q.H, a.W = q.W;
        a.xi_stride = kL;
        const int64_t c0 = cb * kL, nc = std::min<int64_t>(kL, q.Cs - c0);
        const int64_t lanes = a.tiles.tile_end - a.tiles.tile_begin;
        for (int64_t c = 0; c < nc; ++c) {
          a.x = dy + (c0 + c) * q.H * q.W;
          a.v = &tmp[c][0][0];
          kern.input_transform(a);
          for (int xi = 0; xi < kXi; ++xi) std::fill(&tmp[c][xi][lanes], &tmp[c][xi][0] + kL, 0.f);
        }
        for (int64_t c = nc; c < kL; ++c) std::fill(&tmp[c][0][0], &tmp[c][0][0] + kXi * kL, 0.f);
        wk.transpose(&tmp[0][0][0], V.data() + cb * v_cb + i * kL * kL, vs);
      }
    });
    DynamicChunks work(KB, 1);
    run_team(std::min<int64_t>(nt, KB), [&](int, int) {
      ScratchBuffer D(static_cast<size_t>(checked_mul(kXi, d_kb, "sub-pixel D")));
      ScratchBuffer scratch(size_t(kXi * kRB * kL + kRB * 9 * kL));
      float (*dU)[kRB][kL] = reinterpret_cast<float (*)[kRB][kL]>(scratch.data());  // [xi][row][channel lane]
      float (*out)[9 * kL] = reinterpret_cast<float (*)[9 * kL]>(scratch.data() + kXi * kRB * kL);
      const float* outf = &out[0][0];
      int64_t pair_src[kRB * 9], pair_dst[kRB * 9];
      int64_t run_src[kRB * 9];  // blocked order: pair_src by place in the block's filters
      int64_t kb, kb_end;
      while (work.next(&kb, &kb_end)) {
        // D of the row block's stacked channels, [xi][tile / 16][12][16] (rows past Ks zero).
        const int rows = static_cast<int>(std::min<int64_t>(kRB, q.Ks - kb * kRB));
        // Where each (row, tap) result goes: out[row][n * 32 + lane] -> grad_w[cs][c][tap]
        // at cs = lane's channel (the offsets below are from grad_w[cs][0][0]).
        int n_pairs = 0;
        // Blocked order: the block's channels' filters, grad_w[c][run_begin, + run_len).
        const int64_t run_begin = blocked ? channel_of(kb * kRB) * RS : 0;
        const int64_t run_len = blocked ? g.channels_in_block(kb) * RS : 0;
        for (int kr = 0; kr < rows; ++kr) {
          const int64_t k = kb * kRB + kr;
          const PhaseTaps& pt = taps[size_t(phase_of(k))];
          for (size_t n = 0; n < pt.ab.size(); ++n, ++n_pairs) {
            pair_src[n_pairs] = kr * 9 * kL + int64_t(n) * kL;
            pair_dst[n_pairs] = channel_of(k) * RS + pt.tap[n];
            if (blocked) run_src[pair_dst[n_pairs] - run_begin] = pair_src[n_pairs];
          }
        }
        if (rows < kRB)
          for (int xi = 0; xi < kXi; ++xi)
            for (int64_t panel = 0; panel < 2 * nb; ++panel)
              std::fill(D.data() + xi * d_kb + panel * kRB * 16 + rows * 16,
                        D.data() + xi * d_kb + (panel + 1) * kRB * 16, 0.f);
        for (int kr = 0; kr < rows; ++kr)
          for (int64_t i = 0; i < nb; ++i) {
            const int64_t block = b0 + i, k = kb * kRB + kr, e = (block * phases + phase_of(k)) * kL;
            GradTileArgs a;
            a.plane = grad_dx + channel_of(k) * p.H * p.W;
            a.offset = tiles.offset.data() + e, a.rows = tiles.rows.data() + e, a.cols = tiles.cols.data() + e;
            a.lanes = static_cast<int>(std::min<int64_t>(kL, q.tiles - block * kL));
            a.row_step = g.sh * p.W, a.col_step = g.sw;
            a.d = D.data() + (i * 2) * kRB * 16 + kr * 16;
            a.xi_stride = d_kb, a.half_offset = kRB * 16;
            wk.grad_transform(a);
          }
        // dU stays zero in the rows each point skips below (the reduction reads them only
        // through zeros of G, but 0 * garbage could be NaN).
        const int32_t* ranges = row_ranges.data() + kb * kXi * kGatherRowRangeStride;
        for (int xi = 0; xi < kXi; ++xi) {
          const int32_t* r = ranges + xi * kGatherRowRangeStride;
          int done = 0;
          for (int i = 0; i <= r[0]; ++i) {
            const int lo = i < r[0] ? r[1 + 2 * i] : kRB;
            std::fill(&dU[xi][0][0] + done * kL, &dU[xi][0][0] + lo * kL, 0.f);  // lo may be kRB: one past
            if (i < r[0]) done = r[2 + 2 * i];
          }
        }
        for (int64_t cb = 0; cb < CB; ++cb) {
          const int64_t c0 = cb * kL, nc = std::min<int64_t>(kL, q.Cs - c0);
          for (int xi = 0; xi < kXi; ++xi) {
            const int32_t* r = ranges + xi * kGatherRowRangeStride;
            for (int i = 0; i < r[0]; ++i) {
              const int lo = r[1 + 2 * i], hi = r[2 + 2 * i];
              kern.wgemm(D.data() + xi * d_kb + lo * 16, V.data() + xi * vs + cb * v_cb, &dU[xi][lo][0], reduce_len,
                         hi - lo);
            }
          }
          for (int kr = 0; kr < rows; ++kr) {
            const PhaseTaps& pt = taps[size_t(phase_of(kb * kRB + kr))];
            const uint64_t points = per_phase[size_t(phase_of(kb * kRB + kr))];
            wk.reduce(&dU[0][kr][0], kRB * kL, pt.ab.data(), static_cast<int>(pt.ab.size()), points, out[kr]);
          }
          // Input channel outermost: one block's taps of a channel are a few whole cache
          // lines of grad_w (a 4x4 stride-2 block: 3 output channels x 16 taps). In the
          // blocked order they are every tap of the block's consecutive channels, one run
          // per input channel: stored whole by a transpose (one scalar copy per tap and
          // lane was a fifth of DCGAN 512->256's weight gradient).
          if (blocked) {
            FilterRunArgs a;
            a.out = outf, a.src = run_src, a.run_len = run_len, a.lanes = static_cast<int>(nc);
            a.dst = grad_w + c0 * p.C * RS + run_begin, a.lane_stride = p.C * RS, a.accumulate = !first_chunk;
            wk.store_runs(a);
            continue;
          }
          for (int64_t l = 0; l < nc; ++l) {
            float* dst = grad_w + (c0 + l) * p.C * RS;
            if (first_chunk) {
              for (int e = 0; e < n_pairs; ++e) dst[pair_dst[e]] = outf[pair_src[e] + l];
            } else {
              for (int e = 0; e < n_pairs; ++e) dst[pair_dst[e]] += outf[pair_src[e] + l];
            }
          }
        }
      }
    });
  }
  return true;
}

}  // namespace subpixel
}  // namespace cnnnative
