// 1-D Winograd F(m, 3) driver (see winograd1d.h): tiles over (image, phase, tile), blocks
// of 32 tiles run by whole blocks per thread: input transform into V[xi][C][32], the
// (m+2) packed-filter GEMMs into M[xi][K][32] (winograd::Kernels::wgemm of the active
// ISA), output transform with bias. The transforms are plain 32-lane loops; they are a
// few percent of the GEMM at the channel counts this runs on.
#include "winograd1d.h"

#include <algorithm>
#include <vector>

#include "act/epilogue_activation.h"
#include "autotune.h"
#include "nonfinite.h"
#include "cnnnative/conv.h"
#include "cnnnative/errors.h"
#include "cnnnative/gemm.h"
#include "cnnnative/isa.h"
#include "cnnnative/thread_pool.h"
#include "cnnnative/threads.h"
#include "cnnnative/winograd.h"
#include "winograd1d_kernels.h"
#include "winograd_kernels.h"

namespace cnnnative {
namespace winograd1d {
namespace {

using winograd::kChannelBlock;
using winograd::kRowBlock;
using winograd::kTileBlock;
constexpr int L32 = kTileBlock;

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// G of the Cook-Toom matrices on the points 0, +-1, +-2 (, +-1/2) and infinity (B^T and
// A^T: winograd1d_kernels_impl.h), in double: each transformed weight is rounded once.
template <int M>
struct Mat;
template <>
struct Mat<4> {
  static constexpr double G[6][3] = {{1.0 / 4, 0, 0},
                                     {-1.0 / 6, -1.0 / 6, -1.0 / 6},
                                     {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                                     {1.0 / 24, 1.0 / 12, 1.0 / 6},
                                     {1.0 / 24, -1.0 / 12, 1.0 / 6},
                                     {0, 0, 1}};
};
template <>
struct Mat<6> {
  static constexpr double G[8][3] = {{-1, 0, 0},
                                     {-2.0 / 9, -2.0 / 9, -2.0 / 9},
                                     {-2.0 / 9, 2.0 / 9, -2.0 / 9},
                                     {32.0 / 45, 16.0 / 45, 8.0 / 45},
                                     {32.0 / 45, -16.0 / 45, 8.0 / 45},
                                     {1.0 / 90, 1.0 / 45, 2.0 / 45},
                                     {1.0 / 90, -1.0 / 45, 2.0 / 45},
                                     {0, 0, 1}};
};

// One stride-1 3-tap correlation y[N,K,OL] from x[N,C,L]: output o, tap t reads input
// o - pad + d*t (zero outside; pad may be negative: the input gradient crops).
struct Problem {
  int64_t N, C, L, K, OL, pad, d;
  int m;
  std::vector<int64_t> o0;  // first output of each tile of one image (phase-major)
  int alpha() const { return m + 2; }
  int64_t T() const { return int64_t(o0.size()); }
  int64_t tiles() const { return checked_mul(N, T(), "winograd1d tiles"); }
  int64_t blocks() const { return ceil_div(tiles(), kTileBlock); }
  int64_t row_blocks() const { return ceil_div(K, kRowBlock); }
  // V [xi][C][32] and M [xi][K][32], points one cache line more than the data apart.
  int64_t v_stride() const { return C * L32 + 16; }
  int64_t m_stride() const { return K * L32 + 16; }
  // Packed filters [row block][xi][u_stride] with panels [ceil(C/16)][12][16].
  int64_t u_stride() const { return ceil_div(C, kChannelBlock) * kChannelBlock * kRowBlock + 16; }
  int64_t u_floats() const { return checked_numel({row_blocks(), alpha(), u_stride()}, "winograd1d weights"); }
};

Problem make_problem(int64_t N, int64_t C, int64_t L, int64_t K, int64_t OL, int64_t pad, int64_t d, int m) {
  Problem q{N, C, L, K, OL, pad, d, m, {}};
  for (int64_t ph = 0; ph < std::min(d, OL); ++ph) {
    const int64_t len = ceil_div(OL - ph, d);
    for (int64_t j = 0; j < ceil_div(len, m); ++j) q.o0.push_back(ph + d * m * j);
  }
  return q;
}

Problem forward_problem(const ConvParams& p, int m) {
  return make_problem(p.N, p.C, p.W, p.K, p.output_w(), p.pad_left, p.dilation_w, m);
}
// dx = correlation of dy (padded by 2d - pad) with the reversed taps, C and K swapped.
Problem backward_input_problem(const ConvParams& p, int m) {
  return make_problem(p.N, p.K, p.output_w(), p.C, p.W, 2 * p.dilation_w - p.pad_left, p.dilation_w, m);
}

// Filter tap t of the problem's output channel k, input channel c: the forward weights
// w[K, C, 1, 3], or (transposed) the input gradient's reversed ones.
struct Taps {
  const float* w;
  bool backward;
  int64_t C_old;  // the forward weights' input channels
  float at(int64_t k, int64_t c, int t) const {
    return backward ? w[(c * C_old + k) * 3 + 2 - t] : w[(k * C_old + c) * 3 + t];
  }
};

template <int M>
void transform_filters_m(const Problem& q, const Taps& taps, float* U, int nt) {
  constexpr int A = M + 2;
  const int64_t KB = q.row_blocks(), CP = ceil_div(q.C, kChannelBlock);
  team_for_each(nt, KB, [&](int64_t kb) {
    float* u = U + kb * A * q.u_stride();
    for (int xi = 0; xi < A; ++xi) std::fill(u + xi * q.u_stride(), u + (xi + 1) * q.u_stride(), 0.f);
    const int rows = static_cast<int>(std::min<int64_t>(kRowBlock, q.K - kb * kRowBlock));
    for (int kr = 0; kr < rows; ++kr)
      for (int64_t c = 0; c < q.C; ++c) {
        const double f0 = taps.at(kb * kRowBlock + kr, c, 0), f1 = taps.at(kb * kRowBlock + kr, c, 1),
                     f2 = taps.at(kb * kRowBlock + kr, c, 2);
        float* dst = u + (c / kChannelBlock) * kChannelBlock * kRowBlock + kr * kChannelBlock + c % kChannelBlock;
        for (int xi = 0; xi < A; ++xi)
          dst[xi * q.u_stride()] = float(Mat<M>::G[xi][0] * f0 + Mat<M>::G[xi][1] * f1 + Mat<M>::G[xi][2] * f2);
      }
    (void)CP;
  });
}

// The block's tiles in the input x[N, C, L] (windows of m + 2 taps) and in the output
// y[N, K, OL] (m outputs), as the transform kernels read them.
struct Block {
  BlockLanes in, out;
};

Block block_lanes(const Problem& q, int64_t block) {
  Block b;
  const int64_t t0 = block * kTileBlock, t1 = std::min(t0 + kTileBlock, q.tiles()), T = q.T();
  const int n = int(t1 - t0);
  b.in.n = b.out.n = n;
  b.in.step = b.out.step = q.d;
  b.in.len = q.L;
  b.out.len = q.OL;
  b.in.full = b.out.full = n == kTileBlock;
  for (int l = 0; l < kTileBlock; ++l) {
    const int64_t img = l < n ? (t0 + l) / T : 0, o = l < n ? q.o0[size_t((t0 + l) % T)] : 0;
    b.in.pos[l] = o - q.pad;
    b.in.off[l] = img * q.C * q.L + b.in.pos[l];
    b.out.pos[l] = o;
    b.out.off[l] = img * q.K * q.OL + o;
    b.in.full = b.in.full && b.in.pos[l] >= 0 && b.in.pos[l] + q.d * (q.alpha() - 1) < q.L;
    b.out.full = b.out.full && o + q.d * (q.m - 1) < q.OL;
  }
  return b;
}

// Per-thread V and M of run_blocks().
size_t block_workspace_floats(const Problem& q, int nt) {
  return static_cast<size_t>(
      checked_numel({nt, q.alpha(), q.v_stride() + q.m_stride()}, "winograd1d workspace"));
}

// The engine's epilogue beyond the bias (which the output transform adds): residual,
// ReLU/ReLU6 and the other activations, one pass over each output row after the blocks
// (a block's outputs are strided across rows, so this is not fused into its stores).
void finish_rows(const Problem& q, const ConvEpilogue& ep, float* y, int nt) {
  const Activation stored = stored_by_kernel(ep.activation);
  const ActivationPass pass = activation_pass(ep);
  if (!ep.residual && stored == Activation::none && !pass) return;
  team_for_each(nt, q.N * q.K, [&](int64_t r) {
    float* row = y + r * q.OL;
    if (ep.residual) {
      const float* res = ep.residual + r * q.OL;
      for (int64_t i = 0; i < q.OL; ++i) row[i] += res[i];
    }
    if (stored == Activation::relu)
      for (int64_t i = 0; i < q.OL; ++i) row[i] = row[i] < 0.f ? 0.f : row[i];
    else if (stored == Activation::relu6)
      for (int64_t i = 0; i < q.OL; ++i) row[i] = row[i] < 0.f ? 0.f : row[i] > 6.f ? 6.f : row[i];
    pass.apply(row, q.OL, r % q.K);
  });
}

// Runs the conv with transformed filters U (q.u_floats()): whole blocks per thread.
template <int M>
// workspace: block_workspace_floats(q, nt) floats, or null (allocated here).
void run_blocks(const Problem& q, const float* x, const float* U, const float* bias, float* y, int nt,
                float* workspace) {
  constexpr int A = M + 2;
  const winograd::Kernels& kern = winograd::kernels_for(active_isa(), 4);
  const Kernels& tr = kernels_for(active_isa(), M);
  const int64_t vf = A * q.v_stride(), mf = A * q.m_stride(), KB = q.row_blocks();
  ScratchBuffer own(workspace ? 0 : block_workspace_floats(q, nt));
  float* ws = workspace ? workspace : own.data();
  DynamicChunks blocks(q.blocks(), 1);
  run_team(nt, [&](int tid, int) {
    float* v = ws + tid * (vf + mf);
    float* mm = v + vf;
    int64_t b, b_end;
    while (blocks.next(&b, &b_end)) {
      const Block bl = block_lanes(q, b);
      for (int64_t c = 0; c < q.C; ++c) tr.input(bl.in, x + c * q.L, v + c * L32, q.v_stride());
      const auto gemm = bl.in.n <= 16 ? kern.wgemm_half : kern.wgemm;
      for (int xi = 0; xi < A; ++xi)
        for (int64_t kb = 0; kb < KB; ++kb) {
          const int rows = static_cast<int>(std::min<int64_t>(kRowBlock, q.K - kb * kRowBlock));
          gemm(U + (kb * A + xi) * q.u_stride(), v + xi * q.v_stride(),
               mm + xi * q.m_stride() + kb * kRowBlock * L32, q.C, rows);
        }
      for (int64_t k = 0; k < q.K; ++k)
        tr.output(bl.out, mm + k * L32, q.m_stride(), bias ? bias[k] : 0.f, y + k * q.OL);
    }
  });
}

nonfinite::Correlation correlation(const Problem& q) {
  nonfinite::Correlation c{q.N, q.C, 1, q.L, q.K, 1, 1, q.OL, 1, 3, 0, q.pad};
  c.dilation_w = q.d;
  return c;
}

template <int M>
void run_m(const Problem& q, const float* x, const Taps& taps, const float* bias, float* y) {
  if (q.tiles() == 0) return;
  const int nt = num_threads();
  ConvEpilogue ep;
  ep.bias = bias;
  nonfinite::keep_nonfinite(
      correlation(q), x, nonfinite::Filters{taps.w, q.K * q.C * 3}, ep, y, nt,
      [&](const float* xf) {
        ScratchBuffer U(static_cast<size_t>(q.u_floats()));
        transform_filters_m<M>(q, taps, U.data(), nt);
        run_blocks<M>(q, xf, U.data(), bias, y, nt, nullptr);
      },
      [&] {
        std::vector<float> f(static_cast<size_t>(q.K * q.C * 3));
        for (int64_t k = 0; k < q.K; ++k)
          for (int64_t c = 0; c < q.C; ++c)
            for (int t = 0; t < 3; ++t) f[size_t((k * q.C + c) * 3 + t)] = taps.at(k, c, t);
        return f;
      });
}

void run(const Problem& q, const float* x, const Taps& taps, const float* bias, float* y) {
  if (q.m == 6)
    run_m<6>(q, x, taps, bias, y);
  else
    run_m<4>(q, x, taps, bias, y);
}

// Weight gradient: for tile chunks, V[xi][C][ld] (inputs) and D[xi][K][ld] (A applied to
// the output gradient's tiles) for all the chunk's tiles, then per point
// dU[xi] (K x C) += D[xi] V[xi]^T; finally dw[k][c][t] = sum_xi G[xi][t] dU[xi][k][c].
template <int M>
void weight_gradient_m(const Problem& q, const float* x, const float* dy, float* dw, int nt) {
  constexpr int A = M + 2;
  const Kernels& tr = kernels_for(active_isa(), M);
  const int64_t nblocks = q.blocks();
  // As few chunks as keep V and D within 32 MiB (im2col's unfold of the TCN layer is 25
  // MiB), of even size: longer GEMM reductions measured faster (256 ch L1024 b8, 43 blocks
  // of F(6,3): one chunk 25-28 ms, chunks of 32 + 11 blocks 30-32 ms).
  const int64_t block_bytes = checked_numel({A, q.C + q.K, L32, int64_t(sizeof(float))}, "winograd1d V");
  const int64_t max_blocks = std::max<int64_t>(1, (int64_t(32) << 20) / block_bytes);
  const int64_t chunk_blocks = ceil_div(nblocks, ceil_div(nblocks, max_blocks)), ld = chunk_blocks * L32;
  const int64_t vs = checked_mul(q.C, ld, "winograd1d V"), ds = checked_mul(q.K, ld, "winograd1d D");
  ScratchBuffer V(static_cast<size_t>(checked_mul(A, vs, "winograd1d V")));
  ScratchBuffer D(static_cast<size_t>(checked_mul(A, ds, "winograd1d D")));
  ScratchBuffer dU(static_cast<size_t>(checked_numel({A, q.K, q.C}, "winograd1d dU")));
  for (int64_t b0 = 0; b0 < nblocks; b0 += chunk_blocks) {
    const int64_t nb = std::min(chunk_blocks, nblocks - b0), width = nb * L32;
    team_for_each(nt, nb, [&](int64_t i) {
      const Block bl = block_lanes(q, b0 + i);
      for (int64_t c = 0; c < q.C; ++c) tr.input(bl.in, x + c * q.L, V.data() + c * ld + i * L32, vs);
      for (int64_t k = 0; k < q.K; ++k) tr.grad(bl.out, dy + k * q.OL, D.data() + k * ld + i * L32, ds);
    });
    const float beta = b0 == 0 ? 0.f : 1.f;
    for (int xi = 0; xi < A; ++xi)
      sgemm(false, true, q.K, q.C, width, 1.f, D.data() + xi * ds, ld, V.data() + xi * vs, ld, beta,
            dU.data() + xi * q.K * q.C, q.C);
  }
  const int64_t KC = q.K * q.C;
  team_for_each(nt, q.K, [&](int64_t k) {
    for (int64_t c = 0; c < q.C; ++c)
      for (int t = 0; t < 3; ++t) {
        double s = 0;
        for (int xi = 0; xi < A; ++xi) s += Mat<M>::G[xi][t] * dU.data()[xi * KC + k * q.C + c];
        dw[(k * q.C + c) * 3 + t] = float(s);
      }
  });
}

template <int M>
bool supports_m(const ConvParams& p, std::string* why) { return supports(p, M, why); }
template <int M>
void forward_m(const ConvParams& p, const float* x, const float* w, const float* b, float* y) {
  forward(p, M, x, w, b, y);
}
template <int M>
void backward_input_m(const ConvParams& p, const float* dy, const float* w, float* dx) {
  backward_input(p, M, dy, w, dx);
}
template <int M>
size_t workspace_m(const ConvParams& p) {
  const Problem q = forward_problem(p, M);
  const size_t per_thread = size_t((M + 2) * (q.v_stride() + q.m_stride()));
  return (size_t(q.u_floats()) + size_t(num_threads()) * per_thread) * sizeof(float);
}
bool supports_any(const ConvParams& p, std::string* why) { return supports(p, default_tile(p), why); }
void forward_any(const ConvParams& p, const float* x, const float* w, const float* b, float* y) {
  forward(p, default_tile(p), x, w, b, y);
}
void backward_input_any(const ConvParams& p, const float* dy, const float* w, float* dx) {
  backward_input(p, default_tile(p), dy, w, dx);
}
size_t workspace_any(const ConvParams& p) { return workspace_m<6>(p); }

}  // namespace

bool supports(const ConvParams& p, int m, std::string* why) {
  auto no = [&](const std::string& reason) {
    if (why) *why = reason;
    return false;
  };
  if (m != 4 && m != 6) return no(concat("1-D Winograd tile must be 4 or 6, got ", m));
  if (!winograd_enabled()) return no("Winograd is switched off (set_fast_algorithms(winograd=False))");
  if (p.H != 1 || p.R != 1 || p.S != 3)
    return no(concat("1-D Winograd needs a height-1 input and a 1x3 kernel (conv1d, k=3), got H=", p.H,
                     " and kernel ", p.R, "x", p.S));
  if (p.stride_w != 1 || p.stride_h != 1)
    return no(concat("1-D Winograd needs stride 1, got (", p.stride_h, ", ", p.stride_w, ")"));
  if (p.pad_top != 0 || p.pad_bottom != 0) return no("1-D Winograd needs zero padding along the height");
  if (p.groups != 1) return no(concat("1-D Winograd needs groups=1, got ", p.groups));
  return true;
}

// F(6, 3): 8 multiplies for 6 outputs against F(4, 3)'s 6 for 4, at the same float32
// error in 1-D (normalized errors 6-9e-7 for both, C = K = 256, tests/test_conv1d_winograd.py);
// measured 10-20% faster (TCN 256 ch L1024 b8, one thread: forward 18.6 vs 21-23 ms).
int default_tile(const ConvParams&) { return 6; }

// Forward and input gradient: where measured clearly faster than im2col (one thread, CPU
// time, ms im2col -> winograd1d): 256 ch L1024 b8 37 -> 19-23 (every dilation), b1 4.5 ->
// 2.8; 128 ch L1024 b8 d2 8.5 -> 5.9. At 64 channels the gain is smaller and shape-bound
// (L1024 b8 2.3 -> 1.7, b1 0.27 -> 0.23, but L4096 b8 d4 9.4 -> 8.9, with forward and both
// gradients 1.04x): those stay on im2col (tests/test_engine_epilogue.py pins it). 48 and
// 32 channels are slower (0.92-1.06x), and so are few tiles (256 ch L256 b1, 43 tiles of
// 6: 1.04 / 0.97x), where the filter transform is not repaid.
bool preferred(const ConvParams& p) {
  if (!supports(p, 6, nullptr)) return false;
  const int64_t tiles = p.N * ceil_div(p.output_w(), 4);
  return p.C >= 128 && p.K >= 128 && tiles >= 256;
}

// The weight gradient gains less (its GEMMs reduce over tiles in chunks and both
// operands are transformed): 256 ch L1024 b8 37 -> 26, b1 4.8 -> 3.4, but 128 ch 9.0 ->
// 9.0, 64 ch L1024 b8 2.4 -> 2.1, b1 and L4096 d4 slower (0.98x, 0.82x).
bool preferred_for_weight(const ConvParams& p) {
  return preferred(p) && p.C >= 192 && p.K >= 192 && p.N * ceil_div(p.output_w(), 4) >= 512;
}

void forward(const ConvParams& p, int m, const float* x, const float* w, const float* bias, float* y) {
  std::string why;
  CN_CHECK(supports(p, m, &why), "winograd1d: ", why);
  if (p.N == 0) return;
  run(forward_problem(p, m), x, Taps{w, false, p.C}, bias, y);
}

void backward_input(const ConvParams& p, int m, const float* dy, const float* w, float* dx) {
  std::string why;
  CN_CHECK(supports(p, m, &why), "winograd1d: ", why);
  if (p.N == 0) return;
  run(backward_input_problem(p, m), dy, Taps{w, true, p.C}, nullptr, dx);
}

bool backward_weight(const ConvParams& p, const float* x, const float* dy, float* dw) {
  const std::string forced = forced_conv_algorithm();
  const bool named = forced == "winograd1d" || forced == "winograd1x4" || forced == "winograd1x6";
  if (!(forced.empty() ? preferred_for_weight(p) : named && supports(p, 4, nullptr)) || p.N == 0) return false;
  const int nt = num_threads();
  // NaN/inf: the GEMM path gives the direct sum's non-finite values exactly.
  if (!nonfinite::all_finite(x, p.input_numel(), nt) || !nonfinite::all_finite(dy, p.output_numel(), nt))
    return false;
  const int m = forced == "winograd1x4" ? 4 : default_tile(p);
  const Problem q = forward_problem(p, m);
  if (q.tiles() == 0) return false;
  if (m == 6)
    weight_gradient_m<6>(q, x, dy, dw, nt);
  else
    weight_gradient_m<4>(q, x, dy, dw, nt);
  return true;
}

WinogradWeights prepare(const ConvParams& p, const float* w, int m) {
  p.validate();
  if (m == 0) m = default_tile(p);
  std::string why;
  CN_CHECK(supports(p, m, &why), "winograd1d::prepare: ", why);
  const Problem q = forward_problem(p, m);
  WinogradWeights ww;
  ww.tile = m;
  ww.K = p.K;
  ww.C_per_group = p.C;
  ww.groups = 1;
  ww.packed.resize(static_cast<size_t>(q.u_floats()));
  const Taps taps{w, false, p.C};
  if (m == 6)
    transform_filters_m<6>(q, taps, ww.packed.data(), num_threads());
  else
    transform_filters_m<4>(q, taps, ww.packed.data(), num_threads());
  const int64_t count = p.K * p.C * 3;
  ww.finite = nonfinite::all_finite(w, count, num_threads());
  if (ww.finite)
    ww.tap_signs = nonfinite::tap_signs(w, count);
  else
    ww.oihw.assign(w, w + count);
  return ww;
}

size_t prepared_workspace_bytes(const ConvParams& p, int m, int threads) {
  return block_workspace_floats(forward_problem(p, m), threads) * sizeof(float);
}

void forward_prepared(const ConvParams& p, const WinogradWeights& w, const float* x, float* y,
                      const ConvEpilogue& ep, float* workspace, size_t workspace_bytes, int threads) {
  std::string why;
  CN_CHECK(supports(p, w.tile, &why), "winograd1d::forward_prepared: ", why);
  const Problem q = forward_problem(p, w.tile);
  CN_CHECK(w.K == p.K && w.C_per_group == p.C && w.groups == 1 &&
               int64_t(w.packed.size()) == q.u_floats(),
           "winograd1d::forward_prepared: weights were prepared for another shape than ", p.to_string());
  if (p.N == 0 || q.tiles() == 0) return;
  CN_CHECK(!workspace || workspace_bytes >= block_workspace_floats(q, threads) * sizeof(float),
           "winograd1d::forward_prepared: workspace too small for ", p.to_string());
  nonfinite::keep_nonfinite(
      correlation(q), x, nonfinite::Filters{nullptr, 0, w.finite}, ep, y, threads,
      [&](const float* xf) {
        if (w.tile == 6)
          run_blocks<6>(q, xf, w.packed.data(), ep.bias, y, threads, workspace);
        else
          run_blocks<4>(q, xf, w.packed.data(), ep.bias, y, threads, workspace);
        finish_rows(q, ep, y, threads);
      },
      [&] { return w.finite ? nonfinite::sign_filters(w.tap_signs) : w.oihw; });
}

CNNNATIVE_REGISTER_CONV_ALGORITHM(winograd1x4, ConvAlgorithm{"winograd1x4", &supports_m<4>, &forward_m<4>,
                                                             &backward_input_m<4>, &workspace_m<4>});
CNNNATIVE_REGISTER_CONV_ALGORITHM(winograd1x6, ConvAlgorithm{"winograd1x6", &supports_m<6>, &forward_m<6>,
                                                             &backward_input_m<6>, &workspace_m<6>});
CNNNATIVE_REGISTER_CONV_ALGORITHM(winograd1d, ConvAlgorithm{"winograd1d", &supports_any, &forward_any,
                                                            &backward_input_any, &workspace_any});

}  // namespace winograd1d
}  // namespace cnnnative
