// Winograd F(m x m, 3 x 3) driver: filter transform, blocking, threads, and the
// registered algorithms "winograd2x2", "winograd4x4", "winograd6x6", "winograd".
//
// The image is cut into m x m output tiles, numbered over (image, tile row, tile col),
// and processed in blocks of 32 tiles (winograd::kTileBlock; a last block of <= 16 tiles
// runs a 16-lane GEMM). Each block goes through three phases: (1) transform the input
// tiles, channel by channel, into V[xi][C][32], (2) the (m+2)^2 GEMMs M[xi] = U[xi] * V[xi]
// with the transformed filters U, (3) transform M back into output pixels (with bias,
// residual and activation). Schedule (see `Schedule` below): many blocks and small U --
// each thread runs whole blocks; otherwise all threads transform a chunk's inputs, then
// share (row block of 12 output channels, tile block) items that run phases 2 and 3 for
// those channels, reading U once per chunk -- and transforming it right there when the
// filters are not prepared. The input gradient is the same computation on grad_output
// with the filter rotated by 180 degrees and K, C swapped.
#include "cnnnative/winograd.h"

#include <algorithm>
#include <atomic>
#include <memory>

#include "act/epilogue_activation.h"
#include "autotune.h"
#include "nonfinite.h"
#include "cnnnative/conv.h"
#include "cnnnative/errors.h"
#include "cnnnative/isa.h"
#include "cnnnative/thread_pool.h"
#include "cnnnative/threads.h"
#include "winograd_gather.h"
#include "winograd_kernels.h"

namespace cnnnative {
namespace {

using winograd::kChannelBlock;
using winograd::kRowBlock;
using winograd::kTileBlock;
static_assert(kRowBlock == kGatherRowBlock, "winograd_gather.h row blocks are the GEMM's");

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// One stride-1 3x3 correlation: y[N,K,OH,OW] from x[N,C,H,W] with the window of output
// (oh, ow) starting at input (oh - pad_top, ow - pad_left).
struct Problem {
  int64_t N, C, H, W, K, groups, OH, OW, pad_top, pad_left;
  int m;
  int64_t Cg() const { return C / groups; }
  int64_t Kg() const { return K / groups; }
  int alpha() const { return m + 2; }
  int nxi() const { return alpha() * alpha(); }
  int64_t row_blocks() const { return ceil_div(Kg(), kRowBlock); }
  // Distance between transform points in V ([xi][Cg][32]) and M ([xi][Kg][32]): one
  // cache line more than the data, so the (m+2)^2 rows a transform touches do not all
  // fall into one L1 set (Cg*128 bytes is a multiple of 4 KiB for Cg = 32, 64, ...).
  int64_t v_stride() const { return checked_add(checked_mul(Cg(), kTileBlock, "winograd V"), 16, "winograd V"); }
  int64_t m_stride() const { return checked_add(checked_mul(Kg(), kTileBlock, "winograd M"), 16, "winograd M"); }
  // Floats of one row block's packed filters at one transform point ([C/16][12][16]).
  int64_t panel() const { return checked_numel({ceil_div(Cg(), kChannelBlock), kChannelBlock * kRowBlock}, "winograd weights"); }
  // Packed filters are [group][row block][xi][u_stride()]: one row block's filters at all
  // points are contiguous (the row-block path streams them in order), and the points sit
  // one cache line more than a panel apart (a panel is often a multiple of 4 KiB, and the
  // filter transform writes all points at once: without the pad they share one L1 set).
  int64_t u_stride() const { return checked_add(panel(), 16, "winograd weights"); }
  int64_t u_block() const { return checked_numel({nxi(), u_stride()}, "winograd weights"); }
  int64_t TH() const { return ceil_div(OH, m); }
  int64_t TW() const { return ceil_div(OW, m); }
  int64_t tiles() const { return checked_numel({N, TH(), TW()}, "winograd tiles"); }
  int64_t packed_weight_floats() const {
    return checked_numel({groups, row_blocks(), u_block()}, "winograd weights");
  }
};

Problem forward_problem(const ConvParams& p, int m) {
  return Problem{p.N, p.C, p.H, p.W, p.K, p.groups, p.output_h(), p.output_w(), p.pad_top, p.pad_left, m};
}

// dx = correlation of dy (padded by 2 - pad, which may crop) with the rotated filter.
Problem backward_input_problem(const ConvParams& p, int m) {
  return Problem{p.N, p.K, p.output_h(), p.output_w(), p.C, p.groups, p.H, p.W,
                 2 - p.pad_top, 2 - p.pad_left, m};
}

// Where a conv's 3x3 filters come from: the forward weights w[K, C/g, 3, 3], or, for the
// input gradient (backward != null), the same weights with new output channel = old
// input channel, new input channel = old output channel within the group, taps rotated
// by 180 degrees.
struct FilterSource {
  const float* w = nullptr;
  const ConvParams* backward = nullptr;
  const FilterGather* gather = nullptr;  // or produced by a gather rule (winograd_gather.h)
};

// Transformed filters of row block kb of group g: u[xi * xi_stride + panel layout].
// The forward weights are read in place; the input gradient's (rotated, transposed)
// filters are first gathered into f (Cg * 9 * 12 floats) in the same OIHW order.
// zero_points false: the caller's GEMMs skip what the gather's points / segments /
// row_ranges mark zero, so a gather's own transform may leave those unwritten.
void transform_row_block(const Problem& q, const winograd::Kernels& kern, const FilterSource& src, int64_t g,
                         int64_t kb, float* f, float* u, int64_t xi_stride, bool zero_points = true) {
  const int64_t Cg = q.Cg(), Kg = q.Kg();
  const int rows = static_cast<int>(std::min<int64_t>(kRowBlock, Kg - kb * kRowBlock));
  if (src.gather && src.gather->transform && q.m == 4) {
    src.gather->transform(src.gather->ctx, g * Kg + kb * kRowBlock, rows, Cg, u, xi_stride, zero_points);
    return;
  }
  if (src.gather) {
    src.gather->fn(src.gather->ctx, g * Kg + kb * kRowBlock, rows, Cg, f);
    kern.filter_transform(f, Cg * 9, rows, Cg, u, xi_stride);
    return;
  }
  if (!src.backward) {
    kern.filter_transform(src.w + (g * Kg + kb * kRowBlock) * Cg * 9, Cg * 9, rows, Cg, u, xi_stride);
    return;
  }
  const ConvParams& p = *src.backward;
  const int64_t Cg_old = p.C / p.groups, Kg_old = p.K / p.groups;
  for (int kr = 0; kr < rows; ++kr) {
    const int64_t k_new = g * Kg + kb * kRowBlock + kr, g_old = k_new / Cg_old, c_old = k_new % Cg_old;
    for (int64_t c = 0; c < Cg; ++c) {
      const float* wt = src.w + ((g_old * Kg_old + c) * Cg_old + c_old) * 9;
      for (int tp = 0; tp < 9; ++tp) f[(kr * Cg + c) * 9 + tp] = wt[8 - tp];
    }
  }
  kern.filter_transform(f, Cg * 9, rows, Cg, u, xi_stride);
}

// All of them: U[g][row block][xi][u_stride], one (group, row block) per iteration.
void transform_filters(const Problem& q, const FilterSource& src, float* U, int nt) {
  const winograd::Kernels& kern = winograd::kernels_for(active_isa(), q.m);
  const int64_t KB = q.row_blocks();
  // Each row block's filters are transformed by one member: the same on any team.
  run_team(nt, [&](int tid, int team) {
    ScratchBuffer f(src.backward || src.gather ? static_cast<size_t>(q.Cg() * 9 * kRowBlock) : 0);
    const auto [first, end] = team_share(q.groups * KB, tid, team);
    for (int64_t gb = first; gb < end; ++gb) {
      const int64_t g = gb / KB, kb = gb % KB;
      transform_row_block(q, kern, src, g, kb, f.data(), U + gb * q.u_block(), q.u_stride());
    }
  });
}

// How run_in() splits one call among threads.
//  - per_thread_blocks: many tile blocks and small transformed filters (they stay in L2):
//    each thread runs whole tile blocks with its own V and M, no waiting until the end.
//  - otherwise the row-block path, in chunks of tile blocks whose V fits L2: all threads
//    transform the chunk's input tiles into V, then share (row block, tile block) items:
//    the 12 output channels' GEMMs at every transform point into a small per-thread M,
//    then their output transform. The transformed filters are read once per chunk, and
//    when they are not prepared and one chunk holds the whole image, each row block's
//    filters are transformed where they are used (fuse_filters): no transformed-filter
//    array ever goes to memory, and the transform is shared by the threads.
struct Schedule {
  bool per_thread_blocks = false;
  int64_t blocks_per_chunk = 1;
  bool fuse_filters = false;
};

constexpr int64_t kChunkBytes = int64_t(3) << 19;       // V of one chunk: 1.5 MiB (L2 is 2 MiB/core)
constexpr int64_t kSmallFilterBytes = int64_t(1) << 20;  // U of one group that stays in L2

int64_t v_floats(const Problem& q) { return checked_numel({q.nxi(), q.v_stride()}, "winograd V"); }
int64_t m_floats(const Problem& q) { return checked_numel({q.nxi(), q.m_stride()}, "winograd M"); }
// Per-thread scratch of the row-block path: M of one row block, and (fused) the row
// block's transformed filters plus room to gather the input gradient's raw filters.
int64_t row_block_thread_floats(const Problem& q, bool fused) {
  int64_t n = int64_t(q.nxi()) * kRowBlock * kTileBlock;
  if (fused)
    n = checked_add(n, checked_add(q.u_block(), checked_numel({9, q.Cg(), kRowBlock})),
                    "winograd workspace");
  return n;
}

Schedule schedule(const Problem& q, int nt, bool weights_prepared, int64_t chunk_bytes = kChunkBytes) {
  Schedule s;
  const int64_t nblocks = ceil_div(q.tiles(), kTileBlock);
  const int64_t u_group_bytes = checked_numel({q.row_blocks(), q.u_block(), 4}, "winograd weights");
  // Whole blocks per thread only when they divide evenly enough: 7 blocks (56x56 at
  // F(4x4)) on 2 threads would leave one idle for 1/8 of the time.
  const int64_t units = q.groups * nblocks;
  const bool balanced = nt == 1 || units % nt == 0 || units >= 8 * int64_t(nt);
  if (u_group_bytes <= kSmallFilterBytes && units >= 2 && balanced) {
    s.per_thread_blocks = true;
    return s;
  }
  const int64_t max_bpc = std::max<int64_t>(1, chunk_bytes / checked_mul(v_floats(q), 4, "winograd V"));
  const int64_t nchunks = ceil_div(nblocks, max_bpc);
  s.blocks_per_chunk = std::max<int64_t>(1, ceil_div(nblocks, std::max<int64_t>(nchunks, 1)));
  s.fuse_filters = !weights_prepared && nchunks <= 1;
  return s;
}

// Floats of workspace run_in() uses for schedule s with nt threads.
size_t scratch_floats(const Problem& q, const Schedule& s, int nt) {
  if (s.per_thread_blocks)
    return static_cast<size_t>(checked_numel({nt, v_floats(q) + m_floats(q)}, "winograd workspace"));
  const int64_t v = checked_numel({s.blocks_per_chunk, v_floats(q)}, "winograd workspace");
  return static_cast<size_t>(
      checked_add(v, checked_numel({nt, row_block_thread_floats(q, s.fuse_filters)}, "winograd workspace"),
                  "winograd workspace"));
}

// An upper bound for prepared weights that holds for any smaller N or thread count (the
// engine sizes its arena once): the larger of the two paths' needs.
size_t prepared_scratch_floats(const Problem& q, int threads) {
  Schedule per_thread;
  per_thread.per_thread_blocks = true;
  Schedule rows;  // the row-block path (prepared filters: never fused) at its largest chunk
  const int64_t nblocks = std::max<int64_t>(1, ceil_div(q.tiles(), kTileBlock));
  rows.blocks_per_chunk =
      std::min(nblocks, std::max<int64_t>(1, kChunkBytes / checked_mul(v_floats(q), 4, "winograd V")));
  return std::max(scratch_floats(q, per_thread, threads), scratch_floats(q, rows, threads));
}

// Lanes the GEMM computes for a tile block: 16 when it holds <= 16 tiles (7x7 images at
// F(2x2) and 14x14 at F(4x4) have 16 tiles), else 32.
int block_lanes(const winograd::TileGeometry& t) { return t.tile_end - t.tile_begin <= 16 ? 16 : 32; }

// The three phases for tile block `block` of group g (nothing else is shared, so threads
// can run different blocks independently).
struct BlockRunner {
  const Problem& q;
  const winograd::Kernels& kern;
  const float* x;
  const ConvEpilogue& ep;
  float* y;
  winograd::TileGeometry geo;
  int64_t ntiles;
  ActivationPass pass;  // the activation the output transform's store does not apply

  winograd::TileGeometry tiles_of(int64_t block) const {
    winograd::TileGeometry t = geo;
    t.tile_begin = block * kTileBlock;
    t.tile_end = std::min(t.tile_begin + kTileBlock, ntiles);
    return t;
  }
  // V[xi][c][lane] of one input channel c.
  void input(int64_t g, int64_t block, int64_t c, float* v) const {
    winograd::InputTransformArgs a;
    a.tiles = tiles_of(block);
    a.x = x + (g * q.Cg() + c) * q.H * q.W;
    a.image_stride = q.C * q.H * q.W;
    a.H = q.H;
    a.W = q.W;
    a.v = v + c * kTileBlock;
    a.xi_stride = q.v_stride();
    kern.input_transform(a);
  }
  // M rows of one row block at point xi: m[r * 32 + lane] for u = that point's packed
  // filters (one panel) and v = the block's V.
  void gemm(int64_t block, int64_t kb, const float* u, const float* v, float* m) const {
    gemm_rows(block, static_cast<int>(std::min<int64_t>(kRowBlock, q.Kg() - kb * kRowBlock)), u, v, m);
  }
  // The first `rows` rows of u (rows further down: u + r * kChannelBlock, m + r * kTileBlock).
  void gemm_rows(int64_t block, int rows, const float* u, const float* v, float* m) const {
    (block_lanes(tiles_of(block)) == 16 ? kern.wgemm_half : kern.wgemm)(u, v, m, q.Cg(), rows);
  }
  // The same over the input-channel ranges seg[1 .. 2 * seg[0]] only (FilterGather::segments).
  void gemm_segments(int64_t block, int64_t kb, const float* u, const float* v, float* m, const int64_t* seg) const {
    const int rows = static_cast<int>(std::min<int64_t>(kRowBlock, q.Kg() - kb * kRowBlock));
    (block_lanes(tiles_of(block)) == 16 ? kern.wgemm_half_seg : kern.wgemm_seg)(u, v, m, seg + 1,
                                                                                static_cast<int>(seg[0]), rows);
  }
  // Output channel k of group g from m[xi * xi_stride + lane].
  void output(int64_t g, int64_t block, int64_t k, const float* m, int64_t xi_stride) const {
    const int64_t Kg = q.Kg(), out_plane = q.OH * q.OW;
    winograd::OutputTransformArgs a;
    a.tiles = tiles_of(block);
    a.m = m;
    a.xi_stride = xi_stride;
    a.y = y + (g * Kg + k) * out_plane;
    a.residual = ep.residual ? ep.residual + (g * Kg + k) * out_plane : nullptr;
    a.image_stride = q.K * out_plane;
    a.OH = q.OH;
    a.OW = q.OW;
    a.bias = ep.bias ? ep.bias[g * Kg + k] : 0.f;
    a.activation = stored_by_kernel(ep.activation);
    a.after_store = pass.fn;
    a.after_store_param = pass.param(g * Kg + k);
    kern.output_transform(a);
  }
  // Whole block with prepared filters U (all groups), V and M of this thread.
  void whole_block(int64_t g, int64_t block, const float* U, float* v, float* m) const {
    const int64_t Cg = q.Cg(), Kg = q.Kg(), KB = q.row_blocks();
    for (int64_t c = 0; c < Cg; ++c) input(g, block, c, v);
    for (int xi = 0; xi < q.nxi(); ++xi)
      for (int64_t kb = 0; kb < KB; ++kb)
        gemm(block, kb, U + (g * KB + kb) * q.u_block() + xi * q.u_stride(), v + xi * q.v_stride(),
             m + xi * q.m_stride() + kb * kRowBlock * kTileBlock);
    for (int64_t k = 0; k < Kg; ++k) output(g, block, k, m + k * kTileBlock, q.m_stride());
  }
};

// Runs the conv with schedule s. Filters: U (prepared, all groups) or, when null, src
// (transformed here: inside the row-block items when s.fuse_filters, else first into
// the caller's u_scratch of q.packed_weight_floats()). `workspace` holds
// scratch_floats(q, s, nt) floats; run_in() writes every float of it that it later
// reads (no pre-zeroed memory needed).
void run_in(const Problem& q, const float* x, const float* U, const FilterSource& src, float* u_scratch,
            const ConvEpilogue& ep, float* y, int nt, const Schedule& s, float* workspace) {
  const int NXI = q.nxi();
  const int64_t Cg = q.Cg(), KB = q.row_blocks();
  const int64_t ntiles = q.tiles(), nblocks = ceil_div(ntiles, kTileBlock);
  if (ntiles == 0) return;
  const winograd::Kernels& kern = winograd::kernels_for(active_isa(), q.m);
  if (!U && !s.fuse_filters) {
    transform_filters(q, src, u_scratch, nt);
    U = u_scratch;
  }
  winograd::TileGeometry geo;
  geo.TH = q.TH();
  geo.TW = q.TW();
  geo.pad_top = q.pad_top;
  geo.pad_left = q.pad_left;
  const BlockRunner br{q, kern, x, ep, y, geo, ntiles, activation_pass(ep)};
  const int64_t vf = v_floats(q), mf = m_floats(q);

  if (s.per_thread_blocks) {
    // Dynamic: a thread the OS holds up (a busy machine) does not hold up the call.
    DynamicChunks blocks(q.groups * nblocks, 1);
    run_team(nt, [&](int tid, int) {  // a block is one member's: any team, same bits
      float* v = workspace + tid * (vf + mf);
      float* m = v + vf;
      int64_t gb, gb_end;
      while (blocks.next(&gb, &gb_end)) br.whole_block(gb / nblocks, gb % nblocks, U, v, m);
    });
    return;
  }

  // Zeros of the gathered filters' transforms the GEMMs may skip (winograd_gather.h).
  const uint64_t* points = src.gather ? src.gather->points : nullptr;
  const int64_t* segments = src.gather ? src.gather->segments : nullptr;
  const int32_t* row_ranges = src.gather ? src.gather->row_ranges : nullptr;
  const int64_t bpc = s.blocks_per_chunk;
  float* v = workspace;
  float* thread_scratch = workspace + bpc * vf;
  const int64_t tf = row_block_thread_floats(q, s.fuse_filters);
  const int64_t u_block = q.u_block();  // one fused row block's filters
  // One work counter per (group, chunk): the second phase of each hands out its items.
  const int64_t chunks_per_group = (nblocks + bpc - 1) / bpc;
  std::unique_ptr<std::atomic<int64_t>[]> next_item(new std::atomic<int64_t>[size_t(q.groups * chunks_per_group)]);
  for (int64_t i = 0; i < q.groups * chunks_per_group; ++i) next_item[size_t(i)].store(0);
  // Every output is one member's (a row block's GEMMs reduce over all channels), so the
  // results are the same on any team: the busy-machine back-off may run it alone.
  run_team(nt, [&](int tid, int team) {
    float* mloc = thread_scratch + tid * tf;
    float* uloc = mloc + int64_t(NXI) * kRowBlock * kTileBlock;
    float* floc = uloc + u_block;
    int64_t fused_gkb = -1;  // (group, row block) whose filters uloc holds
    for (int64_t g = 0; g < q.groups; ++g) {
      for (int64_t chunk = 0; chunk < nblocks; chunk += bpc) {
        const int64_t nb = std::min(bpc, nblocks - chunk);
        const auto [first_input, end_input] = team_share(nb * Cg, tid, team);
        for (int64_t i = first_input; i < end_input; ++i) br.input(g, chunk + i / Cg, i % Cg, v + (i / Cg) * vf);
        team_barrier();  // every tile block of the chunk transformed
        // Items are (row block, tile block), row block outermost. With fused filters a row
        // block is handed out whole (all its tile blocks), so a thread transforms its
        // filters once; with prepared ones item by item, which balances when row blocks
        // are few (K = 32: 3 row blocks, 2 on one thread and 1 on the other). Dynamic, so
        // a thread the OS holds up does not hold up the call.
        const int64_t step = s.fuse_filters ? nb : 1;
        std::atomic<int64_t>& next = next_item[size_t(g * chunks_per_group + chunk / bpc)];
        for (int64_t start; (start = next.fetch_add(step, std::memory_order_relaxed)) < KB * nb;) {
          const int64_t kb = start / nb, first_block = start % nb;
          for (int64_t b = first_block; b < first_block + step; ++b) {
            const float* ukb;
            if (s.fuse_filters) {
              if (fused_gkb != g * KB + kb) {
                transform_row_block(q, kern, src, g, kb, floc, uloc, q.u_stride(), false);
                fused_gkb = g * KB + kb;
              }
              ukb = uloc;
            } else {
              ukb = U + (g * KB + kb) * u_block;
            }
            const int64_t u_xi_stride = q.u_stride();
            const float* vb = v + b * vf;
            const int64_t rows = std::min<int64_t>(kRowBlock, q.Kg() - kb * kRowBlock);
            for (int xi = 0; xi < NXI; ++xi) {
              float* mxi = mloc + xi * kRowBlock * kTileBlock;
              if (row_ranges) {  // rows outside the ranges: all their filters are zero at xi
                const int32_t* rr = row_ranges + ((g * KB + kb) * NXI + xi) * kGatherRowRangeStride;
                int64_t done = 0;
                for (int i = 0; i < rr[0]; ++i) {
                  const int lo = rr[1 + 2 * i], hi = rr[2 + 2 * i];
                  std::fill(mxi + done * kTileBlock, mxi + lo * kTileBlock, 0.f);
                  br.gemm_rows(chunk + b, hi - lo, ukb + xi * u_xi_stride + lo * winograd::kChannelBlock,
                               vb + xi * q.v_stride(), mxi + lo * kTileBlock);
                  done = hi;
                }
                std::fill(mxi + done * kTileBlock, mxi + rows * kTileBlock, 0.f);
                continue;
              }
              if (points && !(points[g * KB + kb] >> xi & 1)) {  // its filters are all zero there
                std::fill(mxi, mxi + rows * kTileBlock, 0.f);
                continue;
              }
              if (segments)
                br.gemm_segments(chunk + b, kb, ukb + xi * u_xi_stride, vb + xi * q.v_stride(), mxi,
                                 segments + xi * kGatherSegmentStride);
              else
                br.gemm(chunk + b, kb, ukb + xi * u_xi_stride, vb + xi * q.v_stride(), mxi);
            }
            for (int64_t r = 0; r < rows; ++r)
              br.output(g, chunk + b, kb * kRowBlock + r, mloc + r * kTileBlock, kRowBlock * kTileBlock);
          }
        }
        team_barrier();  // the chunk's V is overwritten next
      }
    }
  });
}

nonfinite::Correlation correlation(const Problem& q) {
  return {q.N, q.C, q.H, q.W, q.K, q.groups, q.OH, q.OW, 3, 3, q.pad_top, q.pad_left};
}

// The problem's filters in [K, C/groups, 3, 3] order (the input gradient's rotated,
// transposed ones gathered as in transform_row_block): for nonfinite::direct_outputs.
std::vector<float> problem_filters(const Problem& q, const FilterSource& src) {
  const int64_t Cg = q.Cg();
  if (src.gather) {
    std::vector<float> f(static_cast<size_t>(q.K * Cg * 9));
    for (int64_t k0 = 0; k0 < q.K; k0 += kRowBlock)
      src.gather->fn(src.gather->ctx, k0, static_cast<int>(std::min<int64_t>(kRowBlock, q.K - k0)), Cg,
                     f.data() + k0 * Cg * 9);
    return f;
  }
  if (!src.backward) return std::vector<float>(src.w, src.w + q.K * Cg * 9);
  std::vector<float> f(static_cast<size_t>(q.K * Cg * 9));
  const ConvParams& p = *src.backward;
  const int64_t Cg_old = p.C / p.groups, Kg_old = p.K / p.groups;
  for (int64_t k_new = 0; k_new < q.K; ++k_new) {
    const int64_t g_old = k_new / Cg_old, c_old = k_new % Cg_old;
    for (int64_t c = 0; c < Cg; ++c) {
      const float* wt = src.w + ((g_old * Kg_old + c) * Cg_old + c_old) * 9;
      for (int tp = 0; tp < 9; ++tp) f[(k_new * Cg + c) * 9 + tp] = wt[8 - tp];
    }
  }
  return f;
}

// The allocating entry for unprepared filters: scratch of the size the library's thread
// count needs (and the transformed filters when they are not fused), under the NaN/inf
// rule (nonfinite.h).
void run(const Problem& q, const float* x, const FilterSource& src, const ConvEpilogue& ep, float* y) {
  if (q.tiles() == 0) return;
  const int nt = num_threads();
  const Schedule s = schedule(q, nt, false);
  nonfinite::keep_nonfinite(
      correlation(q), x, nonfinite::Filters{src.w, q.K * q.Cg() * 9}, ep, y, nt,
      [&](const float* xf) {
        ScratchBuffer ws(scratch_floats(q, s, nt));
        ScratchBuffer u_scratch(!s.fuse_filters ? static_cast<size_t>(q.packed_weight_floats()) : 0);
        run_in(q, xf, nullptr, src, u_scratch.data(), ep, y, nt, s, ws.data());
      },
      [&] { return problem_filters(q, src); });
}

// Prepared filters, in the caller's workspace (or one allocated here when null).
void run_prepared(const Problem& q, const WinogradWeights& w, const float* x, const ConvEpilogue& ep, float* y,
                  int nt, float* workspace) {
  if (q.tiles() == 0) return;
  const Schedule s = schedule(q, nt, true);
  nonfinite::keep_nonfinite(
      correlation(q), x, nonfinite::Filters{nullptr, 0, w.finite}, ep, y, nt,
      [&](const float* xf) {
        ScratchBuffer own(workspace ? 0 : scratch_floats(q, s, nt));
        run_in(q, xf, w.packed.data(), FilterSource{}, nullptr, ep, y, nt, s, workspace ? workspace : own.data());
      },
      [&] { return w.finite ? nonfinite::sign_filters(w.tap_signs) : w.oihw; });
}

void check_tile(int tile) {
  CN_CHECK(tile == 2 || tile == 4 || tile == 6, "Winograd tile must be 2, 4 or 6, got ", tile);
}

void forward_tile(int m, const ConvParams& p, const float* x, const float* w, const float* bias, float* y) {
  ConvEpilogue ep;
  ep.bias = bias;
  run(forward_problem(p, m), x, FilterSource{w, nullptr}, ep, y);
}

void backward_input_tile(int m, const ConvParams& p, const float* dy, const float* w, float* dx) {
  run(backward_input_problem(p, m), dy, FilterSource{w, &p}, ConvEpilogue{}, dx);
}

template <int M>
bool supports_tile(const ConvParams& p, std::string* why) { return winograd_supports(p, M, why); }
template <int M>
void forward_m(const ConvParams& p, const float* x, const float* w, const float* b, float* y) {
  forward_tile(M, p, x, w, b, y);
}
template <int M>
void backward_input_m(const ConvParams& p, const float* dy, const float* w, float* dx) {
  backward_input_tile(M, p, dy, w, dx);
}
template <int M>
size_t workspace_m(const ConvParams& p) { return winograd_workspace_bytes(p, M, false); }

bool supports_any(const ConvParams& p, std::string* why) { return winograd_supports(p, 4, why); }
void forward_any(const ConvParams& p, const float* x, const float* w, const float* b, float* y) {
  forward_tile(winograd_default_tile(p), p, x, w, b, y);
}
void backward_input_any(const ConvParams& p, const float* dy, const float* w, float* dx) {
  // The input gradient's "output" is the input: choose the tile by its size.
  ConvParams t = p;
  t.H = p.output_h() + 2;
  t.W = p.output_w() + 2;
  t.pad_top = t.pad_bottom = t.pad_left = t.pad_right = 0;
  std::swap(t.C, t.K);
  backward_input_tile(winograd_default_tile(t), p, dy, w, dx);
}
size_t workspace_any(const ConvParams& p) {
  return winograd_workspace_bytes(p, winograd_default_tile(p), false);
}

}  // namespace

namespace {
void run_gathered(const Problem& q, const FilterGather& filters, const float* x, float* y) {
  if (q.tiles() == 0) return;
  FilterSource src;
  src.gather = &filters;
  const int nt = num_threads();
  // One chunk (filters transformed where they are used) up to 8 MiB of V: gathered filters
  // are derived weights (the sub-pixel stacked ones, 2.25x the real taps), whose whole
  // transformed copy would be larger still (DCGAN 256->128: U 19 MB against V 2.4 MB;
  // eager forward 10.0 -> 9.0 ms, one thread; benchmarks/RESULTS.md).
  const Schedule s = schedule(q, nt, false, std::max<int64_t>(kChunkBytes, int64_t(8) << 20));
  // The filters are the caller's to keep finite (winograd_gather.h): only x is scanned.
  nonfinite::keep_nonfinite(
      correlation(q), x, nonfinite::Filters{nullptr, 0, true}, ConvEpilogue{}, y, nt,
      [&](const float* xf) {
        ScratchBuffer ws(scratch_floats(q, s, nt));
        ScratchBuffer u_scratch(!s.fuse_filters ? static_cast<size_t>(q.packed_weight_floats()) : 0);
        run_in(q, xf, nullptr, src, u_scratch.data(), ConvEpilogue{}, y, nt, s, ws.data());
      },
      [&] { return problem_filters(q, src); });
}

void check_gathered(const ConvParams& p) {
  CN_CHECK(p.groups == 1 && p.R == 3 && p.S == 3 && p.stride_h == 1 && p.stride_w == 1 && p.dilation_h == 1 &&
               p.dilation_w == 1,
           "Winograd with gathered filters needs a 3x3 stride-1 convolution without groups, got ", p.to_string());
}
}  // namespace

void winograd_forward_gathered(const ConvParams& p, int m, const FilterGather& filters, const float* x, float* y) {
  check_tile(m);
  check_gathered(p);
  run_gathered(forward_problem(p, m), filters, x, y);
}

void winograd_backward_input_gathered(const ConvParams& p, int m, const FilterGather& filters, const float* dy,
                                      float* dx) {
  check_tile(m);
  check_gathered(p);
  run_gathered(backward_input_problem(p, m), filters, dy, dx);
}

int winograd_tile_for(const ConvParams& p, bool for_input_gradient) {
  if (!for_input_gradient) return winograd_default_tile(p);
  ConvParams t = p;  // as backward_input_any: the tile by the input gradient's size
  t.H = p.output_h() + 2;
  t.W = p.output_w() + 2;
  t.pad_top = t.pad_bottom = t.pad_left = t.pad_right = 0;
  std::swap(t.C, t.K);
  return winograd_default_tile(t);
}

bool winograd_supports(const ConvParams& p, int tile, std::string* why) {
  auto no = [&](const std::string& reason) {
    if (why) *why = reason;
    return false;
  };
  if (tile != 2 && tile != 4 && tile != 6) return no(concat("Winograd tile ", tile, " is not 2, 4 or 6"));
  if (!winograd_enabled()) return no("Winograd is switched off (set_fast_algorithms(winograd=False))");
  if (p.R != 3 || p.S != 3) return no(concat("Winograd needs a 3x3 kernel, got ", p.R, "x", p.S));
  if (p.stride_h != 1 || p.stride_w != 1)
    return no(concat("Winograd needs stride 1, got (", p.stride_h, ", ", p.stride_w, ")"));
  if (p.dilation_h != 1 || p.dilation_w != 1)
    return no(concat("Winograd needs dilation 1, got (", p.dilation_h, ", ", p.dilation_w, ")"));
  return true;
}

int winograd_default_tile(const ConvParams& p) {
  // Estimated cost per tile size: transform-domain multiplies (C*K/g per point) plus
  // transforms (~4 (C+K) alpha^3 per tile, fitted to the benchmark layers), over the
  // tiles that cover the output (partial tiles at the border, and the empty lanes of the
  // last 32-tile block, cost as much as full ones). Ties go to F(4x4), whose error is
  // smaller (F(6x6) stays inside its documented bound, see winograd.h). F(6x6) must win
  // by 15%: after the transforms got faster the model rated it 5% cheaper on VGG's
  // 224x224x64, where it measured 9-40% slower than F(4x4) (8.4 vs 9.1 ms alone, 10.1
  // vs 14.2 ms among the other algorithms of bench_conv_algos).
  const int64_t OH = p.output_h(), OW = p.output_w();
  const double ck = double(p.C / p.groups) * double(p.K / p.groups) * double(p.groups);
  const double cpk = double(p.C + p.K);
  double best = 0;
  int best_m = 4;
  for (int m : {4, 2, 6}) {
    // Tiles run in blocks of 32 lanes, the last one in 16 when it holds <= 16 tiles:
    // empty lanes cost as much as full ones.
    const int64_t t = p.N * ceil_div(OH, m) * ceil_div(OW, m), rest = t % kTileBlock;
    const double tiles = double(t - rest + (rest == 0 ? 0 : rest <= 16 ? 16 : kTileBlock));
    const double a = m + 2;
    double cost = tiles * (a * a * ck + 4.0 * a * a * a * cpk);
    if (m == 6) cost *= 1.15;
    if (m == 4 || cost < best) {
      best = cost;
      best_m = m;
    }
  }
  return best_m;
}

size_t winograd_workspace_bytes(const ConvParams& p, int tile, bool weights_prepared) {
  check_tile(tile);
  const Problem q = forward_problem(p, tile);
  const int nt = num_threads();
  const Schedule s = schedule(q, nt, weights_prepared);
  size_t floats = scratch_floats(q, s, nt);
  if (!weights_prepared && !s.fuse_filters) floats += static_cast<size_t>(q.packed_weight_floats());
  return floats * sizeof(float);
}

WinogradWeights winograd_prepare(const ConvParams& p, const float* w, int tile) {
  p.validate();
  if (tile == 0) tile = winograd_default_tile(p);
  std::string why;
  CN_CHECK(winograd_supports(p, tile, &why), "winograd_prepare: ", why);
  const Problem q = forward_problem(p, tile);
  WinogradWeights ww;
  ww.tile = tile;
  ww.K = p.K;
  ww.C_per_group = p.C / p.groups;
  ww.groups = p.groups;
  ww.packed.resize(static_cast<size_t>(q.packed_weight_floats()));
  transform_filters(q, FilterSource{w, nullptr}, ww.packed.data(), num_threads());
  const int64_t count = p.K * (p.C / p.groups) * 9;
  ww.finite = nonfinite::all_finite(w, count, num_threads());
  if (ww.finite)
    ww.tap_signs = nonfinite::tap_signs(w, count);
  else
    ww.oihw.assign(w, w + count);
  return ww;
}

void winograd_forward_prepared(const ConvParams& p, const WinogradWeights& w, const float* x,
                               float* y, const ConvEpilogue& epilogue) {
  p.validate();
  std::string why;
  CN_CHECK(winograd_supports(p, w.tile, &why), "winograd_forward_prepared: ", why);
  CN_CHECK(w.K == p.K && w.C_per_group == p.C / p.groups && w.groups == p.groups,
           "winograd_forward_prepared: weights were prepared for K=", w.K, ", C/groups=",
           w.C_per_group, ", groups=", w.groups, " but the convolution is ", p.to_string());
  const Problem q = forward_problem(p, w.tile);
  CN_CHECK(static_cast<int64_t>(w.packed.size()) == q.packed_weight_floats(),
           "winograd_forward_prepared: packed weights have the wrong size");
  if (p.N == 0) return;
  run_prepared(q, w, x, epilogue, y, num_threads(), nullptr);
}

size_t winograd_prepared_workspace_bytes(const ConvParams& p, int tile, int threads) {
  check_tile(tile);
  CN_CHECK(threads >= 1, "winograd_prepared_workspace_bytes: threads must be >= 1, got ", threads);
  return prepared_scratch_floats(forward_problem(p, tile), threads) * sizeof(float);
}

void winograd_forward_prepared(const ConvParams& p, const WinogradWeights& w, const float* x, float* y,
                               const ConvEpilogue& epilogue, float* workspace, size_t workspace_bytes,
                               int threads) {
  p.validate();
  std::string why;
  CN_CHECK(winograd_supports(p, w.tile, &why), "winograd_forward_prepared: ", why);
  CN_CHECK(w.K == p.K && w.C_per_group == p.C / p.groups && w.groups == p.groups,
           "winograd_forward_prepared: weights were prepared for K=", w.K, ", C/groups=",
           w.C_per_group, ", groups=", w.groups, " but the convolution is ", p.to_string());
  CN_CHECK(threads >= 1, "winograd_forward_prepared: threads must be >= 1, got ", threads);
  const Problem q = forward_problem(p, w.tile);
  CN_CHECK(static_cast<int64_t>(w.packed.size()) == q.packed_weight_floats(),
           "winograd_forward_prepared: packed weights have the wrong size");
  if (p.N == 0 || q.tiles() == 0) return;
  const size_t need = prepared_scratch_floats(q, threads) * sizeof(float);
  CN_CHECK(workspace != nullptr && workspace_bytes >= need, "winograd_forward_prepared: workspace of ",
           workspace_bytes, " bytes is smaller than the ", need, " bytes needed for ", p.to_string(),
           " with ", threads, " threads");
  run_prepared(q, w, x, epilogue, y, threads, workspace);
}

CNNNATIVE_REGISTER_CONV_ALGORITHM(winograd2x2, ConvAlgorithm{"winograd2x2", &supports_tile<2>, &forward_m<2>,
                                                             &backward_input_m<2>, &workspace_m<2>});
CNNNATIVE_REGISTER_CONV_ALGORITHM(winograd4x4, ConvAlgorithm{"winograd4x4", &supports_tile<4>, &forward_m<4>,
                                                             &backward_input_m<4>, &workspace_m<4>});
CNNNATIVE_REGISTER_CONV_ALGORITHM(winograd6x6, ConvAlgorithm{"winograd6x6", &supports_tile<6>, &forward_m<6>,
                                                             &backward_input_m<6>, &workspace_m<6>});
CNNNATIVE_REGISTER_CONV_ALGORITHM(winograd, ConvAlgorithm{"winograd", &supports_any, &forward_any,
                                                          &backward_input_any, &workspace_any});

}  // namespace cnnnative
