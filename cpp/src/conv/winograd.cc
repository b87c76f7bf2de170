// Winograd F(m x m, 3 x 3) driver: filter transform, blocking, threads, and the
// registered algorithms "winograd2x2", "winograd4x4", "winograd6x6", "winograd".
//
// The image is cut into m x m output tiles, numbered over (image, tile row, tile col).
// Tiles are processed in chunks of blocks of 32 (winograd::kTileBlock); for each chunk
// all threads (1) transform the input tiles, channel by channel, into V[xi][C][32],
// (2) run the (m+2)^2 GEMMs M[xi] = U[xi] * V[xi], and (3) transform M back into output
// pixels. A chunk's V and M are sized to stay near the cores' L2, so each phase reads
// what the previous one just wrote from cache. The input gradient is the same
// computation on grad_output with the filter rotated by 180 degrees and K, C swapped.
#include "cnnnative/winograd.h"

#include <omp.h>

#include <algorithm>

#include "autotune.h"
#include "cnnnative/conv.h"
#include "cnnnative/errors.h"
#include "cnnnative/isa.h"
#include "cnnnative/threads.h"
#include "winograd_kernels.h"

namespace cnnnative {
namespace {

using winograd::kRowBlock;
using winograd::kTileBlock;

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
  int64_t TH() const { return ceil_div(OH, m); }
  int64_t TW() const { return ceil_div(OW, m); }
  int64_t tiles() const { return checked_numel({N, TH(), TW()}, "winograd tiles"); }
  int64_t packed_weight_floats() const {
    return checked_numel({groups, nxi(), row_blocks() * kRowBlock, Cg()}, "winograd weights");
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

// U[g][xi][row block][c][12] = (G f G^T)[xi] for filter f = tap(g*Kg + k, c, r, s).
// One (group, row block) per iteration: its 12 x C filters are gathered tap-major, then
// transformed 12 at a time into (m+2)^2 contiguous [C][12] panels.
template <typename Tap>
void transform_filters(const Problem& q, Tap tap, float* U) {
  const winograd::Kernels& kern = winograd::kernels_for(active_isa(), q.m);
  const int NXI = q.nxi();
  const int64_t Cg = q.Cg(), Kg = q.Kg(), KB = q.row_blocks();
#pragma omp parallel num_threads(num_threads())
  {
    ScratchBuffer f(static_cast<size_t>(Cg * 9 * kRowBlock));
#pragma omp for schedule(static)
    for (int64_t gb = 0; gb < q.groups * KB; ++gb) {
      const int64_t g = gb / KB, kb = gb % KB;
      // Filter by filter, so the forward weights are read contiguously.
      for (int kr = 0; kr < kRowBlock; ++kr) {
        const int64_t k = kb * kRowBlock + kr;
        for (int64_t c = 0; c < Cg; ++c)
          for (int tp = 0; tp < 9; ++tp)
            f.data()[(c * 9 + tp) * kRowBlock + kr] = k < Kg ? tap(g * Kg + k, c, tp / 3, tp % 3) : 0.f;
      }
      kern.filter_transform(f.data(), Cg, U + ((g * NXI) * KB + kb) * Cg * kRowBlock, KB * Cg * kRowBlock);
    }
  }
}

void transform_forward_filters(const Problem& q, const float* w, float* U) {
  const int64_t Cg = q.Cg();
  transform_filters(q, [&](int64_t k, int64_t c, int r, int s) {
    return w[((k * Cg + c) * 3 + r) * 3 + s];
  }, U);
}

// The input gradient's filter: new output channel = old input channel (c_old), new input
// channel = old output channel within the group (k_old), taps rotated by 180 degrees.
void transform_backward_filters(const ConvParams& p, const Problem& q, const float* w, float* U) {
  const int64_t Cg_old = p.C / p.groups, Kg_old = p.K / p.groups;
  transform_filters(q, [&](int64_t k_new, int64_t k_old_in_group, int r, int s) {
    const int64_t g = k_new / Cg_old, c_old = k_new % Cg_old;
    const int64_t k_old = g * Kg_old + k_old_in_group;
    return w[((k_old * Cg_old + c_old) * 3 + (2 - r)) * 3 + (2 - s)];
  }, U);
}

// Tile blocks per chunk: V and M of one chunk should fit about 1 MiB per thread (L2).
int64_t blocks_per_chunk(const Problem& q, int64_t blocks, int threads) {
  const int64_t bytes_per_block = int64_t(q.nxi()) * (q.Cg() + q.Kg()) * kTileBlock * 4;
  const int64_t budget = int64_t(768) * 1024 * threads;
  return std::max<int64_t>(1, std::min(blocks, budget / bytes_per_block));
}

// Floats of V and M that run() uses with `threads` threads: one block per thread (many
// blocks) or one chunk (few blocks), whichever is larger, so the size holds for either
// path and for any smaller N or thread count (both only shrink it).
size_t chunk_scratch_floats(const Problem& q, int threads) {
  const int64_t blocks = ceil_div(q.tiles(), kTileBlock);
  const int64_t bpc =
      std::max<int64_t>(threads, blocks_per_chunk(q, std::max<int64_t>(blocks, 1), threads));
  return static_cast<size_t>(
      checked_numel({bpc, q.nxi(), q.Cg() + q.Kg(), kTileBlock}, "winograd workspace"));
}

// Runs the three phases for tile block `block` of group g, using v and m as that block's
// V and M (nothing else is shared, so threads can run different blocks independently).
struct BlockRunner {
  const Problem& q;
  const winograd::Kernels& kern;
  const float* x;
  const float* U;
  const ConvEpilogue& ep;
  float* y;
  winograd::TileGeometry geo;
  int64_t ntiles;

  winograd::TileGeometry tiles_of(int64_t block) const {
    winograd::TileGeometry t = geo;
    t.tile_begin = block * kTileBlock;
    t.tile_end = std::min(t.tile_begin + kTileBlock, ntiles);
    return t;
  }
  void input(int64_t g, int64_t block, int64_t c, float* v) const {
    winograd::InputTransformArgs a;
    a.tiles = tiles_of(block);
    a.x = x + (g * q.Cg() + c) * q.H * q.W;
    a.image_stride = q.C * q.H * q.W;
    a.H = q.H;
    a.W = q.W;
    a.v = v + c * kTileBlock;
    a.xi_stride = q.Cg() * kTileBlock;
    kern.input_transform(a);
  }
  void gemm(int64_t g, int xi, int64_t kb, const float* v, float* m) const {
    const int64_t Cg = q.Cg(), Kg = q.Kg(), KB = q.row_blocks();
    kern.gemm(U + ((g * q.nxi() + xi) * KB + kb) * Cg * kRowBlock, v + xi * Cg * kTileBlock,
              m + (xi * Kg + kb * kRowBlock) * kTileBlock, Cg,
              static_cast<int>(std::min<int64_t>(kRowBlock, Kg - kb * kRowBlock)));
  }
  void output(int64_t g, int64_t block, int64_t k, const float* m) const {
    const int64_t Kg = q.Kg(), out_plane = q.OH * q.OW;
    winograd::OutputTransformArgs a;
    a.tiles = tiles_of(block);
    a.m = m + k * kTileBlock;
    a.xi_stride = Kg * kTileBlock;
    a.y = y + (g * Kg + k) * out_plane;
    a.residual = ep.residual ? ep.residual + (g * Kg + k) * out_plane : nullptr;
    a.image_stride = q.K * out_plane;
    a.OH = q.OH;
    a.OW = q.OW;
    a.bias = ep.bias ? ep.bias[g * Kg + k] : 0.f;
    a.activation = ep.activation;
    kern.output_transform(a);
  }
  void whole_block(int64_t g, int64_t block, float* v, float* m) const {
    for (int64_t c = 0; c < q.Cg(); ++c) input(g, block, c, v);
    for (int xi = 0; xi < q.nxi(); ++xi)
      for (int64_t kb = 0; kb < q.row_blocks(); ++kb) gemm(g, xi, kb, v, m);
    for (int64_t k = 0; k < q.Kg(); ++k) output(g, block, k, m);
  }
};

// `workspace` holds at least chunk_scratch_floats(q, nt) floats; run() writes every
// float of it that it later reads (no pre-zeroed memory needed).
void run_in(const Problem& q, const float* x, const float* U, const ConvEpilogue& ep, float* y, int nt,
            float* workspace) {
  const int NXI = q.nxi();
  const int64_t Cg = q.Cg(), Kg = q.Kg(), KB = q.row_blocks();
  const int64_t ntiles = q.tiles(), nblocks = ceil_div(ntiles, kTileBlock);
  if (ntiles == 0) return;
  winograd::TileGeometry geo;
  geo.TH = q.TH();
  geo.TW = q.TW();
  geo.pad_top = q.pad_top;
  geo.pad_left = q.pad_left;
  const BlockRunner br{q, winograd::kernels_for(active_isa(), q.m), x, U, ep, y, geo, ntiles};
  const int64_t v_floats = int64_t(NXI) * Cg * kTileBlock, m_floats = int64_t(NXI) * Kg * kTileBlock;

  if (q.groups * nblocks >= 2 * int64_t(nt) || nt == 1) {
    // Many blocks: each thread runs whole blocks with its own V and M (L2-sized for one
    // block), and no thread waits for another until the end.
#pragma omp parallel num_threads(nt)
    {
      float* v = workspace + omp_get_thread_num() * (v_floats + m_floats);
      float* m = v + v_floats;
#pragma omp for schedule(static)
      for (int64_t gb = 0; gb < q.groups * nblocks; ++gb) br.whole_block(gb / nblocks, gb % nblocks, v, m);
    }
    return;
  }

  // Few blocks (small images): all threads share each chunk of blocks, phase by phase.
  const int64_t bpc = blocks_per_chunk(q, nblocks, nt);
  float* v = workspace;
  float* mm = workspace + bpc * v_floats;
#pragma omp parallel num_threads(nt)
  for (int64_t g = 0; g < q.groups; ++g) {
    for (int64_t chunk = 0; chunk < nblocks; chunk += bpc) {
      const int64_t nb = std::min(bpc, nblocks - chunk);
#pragma omp for collapse(2) schedule(static)
      for (int64_t b = 0; b < nb; ++b)
        for (int64_t c = 0; c < Cg; ++c) br.input(g, chunk + b, c, v + b * v_floats);
#pragma omp for collapse(3) schedule(static)
      for (int64_t b = 0; b < nb; ++b)
        for (int xi = 0; xi < NXI; ++xi)
          for (int64_t kb = 0; kb < KB; ++kb) br.gemm(g, xi, kb, v + b * v_floats, mm + b * m_floats);
#pragma omp for collapse(2) schedule(static)
      for (int64_t b = 0; b < nb; ++b)
        for (int64_t k = 0; k < Kg; ++k) br.output(g, chunk + b, k, mm + b * m_floats);
    }
  }
}

// The allocating entry: a scratch buffer of the size the library's thread count needs.
void run(const Problem& q, const float* x, const float* U, const ConvEpilogue& ep, float* y) {
  if (q.tiles() == 0) return;
  const int nt = num_threads();
  ScratchBuffer ws(chunk_scratch_floats(q, nt));
  run_in(q, x, U, ep, y, nt, ws.data());
}

void check_tile(int tile) {
  CN_CHECK(tile == 2 || tile == 4 || tile == 6, "Winograd tile must be 2, 4 or 6, got ", tile);
}

void forward_tile(int m, const ConvParams& p, const float* x, const float* w, const float* bias, float* y) {
  const Problem q = forward_problem(p, m);
  ScratchBuffer U(static_cast<size_t>(q.packed_weight_floats()));
  transform_forward_filters(q, w, U.data());
  ConvEpilogue ep;
  ep.bias = bias;
  run(q, x, U.data(), ep, y);
}

void backward_input_tile(int m, const ConvParams& p, const float* dy, const float* w, float* dx) {
  const Problem q = backward_input_problem(p, m);
  ScratchBuffer U(static_cast<size_t>(q.packed_weight_floats()));
  transform_backward_filters(p, q, w, U.data());
  run(q, dy, U.data(), ConvEpilogue{}, dx);
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
  // smaller (F(6x6) stays inside its documented bound, see winograd.h).
  const int64_t OH = p.output_h(), OW = p.output_w();
  const double ck = double(p.C / p.groups) * double(p.K / p.groups) * double(p.groups);
  const double cpk = double(p.C + p.K);
  double best = 0;
  int best_m = 4;
  for (int m : {4, 2, 6}) {
    // Tiles run in blocks of 32 lanes: a half-empty block costs a full one.
    const double tiles = double(ceil_div(p.N * ceil_div(OH, m) * ceil_div(OW, m), kTileBlock) * kTileBlock);
    const double a = m + 2;
    double cost = tiles * (a * a * ck + 4.0 * a * a * a * cpk);
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
  size_t floats = chunk_scratch_floats(q, num_threads());
  if (!weights_prepared) floats += static_cast<size_t>(q.packed_weight_floats());
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
  transform_forward_filters(q, w, ww.packed.data());
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
  run(q, x, w.packed.data(), epilogue, y);
}

size_t winograd_prepared_workspace_bytes(const ConvParams& p, int tile, int threads) {
  check_tile(tile);
  CN_CHECK(threads >= 1, "winograd_prepared_workspace_bytes: threads must be >= 1, got ", threads);
  return chunk_scratch_floats(forward_problem(p, tile), threads) * sizeof(float);
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
  const size_t need = chunk_scratch_floats(q, threads) * sizeof(float);
  CN_CHECK(workspace != nullptr && workspace_bytes >= need, "winograd_forward_prepared: workspace of ",
           workspace_bytes, " bytes is smaller than the ", need, " bytes needed for ", p.to_string(),
           " with ", threads, " threads");
  run_in(q, x, w.packed.data(), epilogue, y, threads, workspace);
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
