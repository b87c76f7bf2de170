// Tiled FFT convolution driver (see cnnnative/fft.h): filter DFTs, tile blocks of 32,
// threads over blocks, and the registered algorithms "fft8", "fft16" and "fft".
//
// Per block of 32 windows and per group: DFT every input channel's windows into
// V[xi][3 Gauss planes][C][32], run three real GEMMs per frequency (fft_kernels.h), and
// inverse-DFT each output channel. Each thread owns one block's V and M at a time (1.7 MB
// for 8x8 windows, 6 MB for 16x16 windows of 64 channels).
#include "cnnnative/fft.h"

#include <algorithm>
#include <cmath>

#include "autotune.h"
#include "cnnnative/conv.h"
#include "cnnnative/errors.h"
#include "cnnnative/isa.h"
#include "cnnnative/thread_pool.h"
#include "cnnnative/threads.h"
#include "core/int_math.h"
#include "fft_kernels.h"
#include "nonfinite.h"

namespace cnnnative {
namespace {

using fft::kLanes;
constexpr int kRows = 12;  // output channels per packed filter block (the GEMM's rows)


constexpr double kMaxWeightBytes = 256.0 * (1 << 20);

struct Problem {
  int64_t N, C, H, W, K, groups, OH, OW, R, S, pad_top, pad_left;
  int T;
  int64_t Cg() const { return C / groups; }
  int64_t Kg() const { return K / groups; }
  int64_t nf() const { return fft::num_freqs(T); }
  int64_t KB() const { return ceil_div(Kg(), kRows); }
  int64_t step_h() const { return T - R + 1; }
  int64_t step_w() const { return T - S + 1; }
  int64_t TH() const { return ceil_div(OH, step_h()); }
  int64_t TW() const { return ceil_div(OW, step_w()); }
  int64_t tiles() const { return checked_numel({N, TH(), TW()}, "fft tiles"); }
  // U, V and M hold three Gauss planes per frequency (fft_kernels.h).
  int64_t plane_floats() const { return KB() * kRows * Cg(); }
  int64_t group_floats() const { return nf() * 3 * plane_floats(); }
  int64_t packed_floats() const { return checked_numel({groups, group_floats()}, "fft weights"); }
  int64_t v_floats() const { return checked_numel({nf(), 3 * Cg(), kLanes}, "fft workspace"); }
  int64_t m_floats() const { return checked_numel({nf(), 3 * Kg(), kLanes}, "fft workspace"); }
};

Problem forward_problem(const ConvParams& p, int T) {
  return Problem{p.N, p.C, p.H, p.W, p.K, p.groups, p.output_h(), p.output_w(), p.R, p.S, p.pad_top, p.pad_left, T};
}

Problem backward_input_problem(const ConvParams& p, int T) {
  return Problem{p.N, p.K, p.output_h(), p.output_w(), p.C, p.groups, p.H, p.W, p.R, p.S,
                 p.R - 1 - p.pad_top, p.S - 1 - p.pad_left, T};
}

template <typename Tap>
void transform_filters(const Problem& q, Tap tap, float* U) {
  const fft::Kernels& kern = fft::kernels_for(active_isa(), q.T);
  const int64_t Cg = q.Cg(), Kg = q.Kg(), KB = q.KB(), taps = q.R * q.S;
  run_team(num_threads(), [&](int tid, int team) {
    ScratchBuffer f(static_cast<size_t>(Cg * taps * kRows));
    const auto [gb_begin, gb_end] = team_share(q.groups * KB, tid, team);
    for (int64_t gb = gb_begin; gb < gb_end; ++gb) {
      const int64_t g = gb / KB, kb = gb % KB;
      // Filter by filter, so the forward weights are read contiguously.
      for (int kr = 0; kr < kRows; ++kr) {
        const int64_t k = kb * kRows + kr;
        for (int64_t c = 0; c < Cg; ++c)
          for (int64_t t = 0; t < taps; ++t)
            f.data()[(c * taps + t) * kRows + kr] = k < Kg ? tap(g * Kg + k, c, t / q.S, t % q.S) : 0.f;
      }
      fft::FilterArgs a;
      a.f = f.data();
      a.C = Cg;
      a.R = static_cast<int>(q.R);
      a.S = static_cast<int>(q.S);
      a.u = U + g * q.group_floats() + kb * kRows * Cg;
      a.xi_stride = 3 * q.plane_floats();
      a.plane_stride = q.plane_floats();
      kern.filter_transform(a);
    }
  });
}

// The three phases of one block of 32 windows in group g, written once for both
// thread layouts below.
struct BlockPhases {
  const Problem& q;
  const fft::Kernels& kern;
  void (*gemm)(const float*, const float*, float*, int64_t, int);
  fft::Tiles geo;
  const float *x, *U, *bias;
  float* y;

  fft::Tiles tiles(int64_t block) const {
    fft::Tiles t = geo;
    t.tile_begin = block * kLanes;
    t.tile_end = std::min(t.tile_begin + kLanes, q.tiles());
    return t;
  }
  // DFT of input channel c of group g into V.
  void input(int64_t g, int64_t block, int64_t c, float* v) const {
    const int64_t Cg = q.Cg();
    fft::InputArgs a;
    a.tiles = tiles(block);
    a.x = x + (g * Cg + c) * q.H * q.W;
    a.image_stride = q.C * q.H * q.W;
    a.H = q.H;
    a.W = q.W;
    a.v = v + c * kLanes;
    a.xi_stride = 3 * Cg * kLanes;
    a.plane_stride = Cg * kLanes;
    kern.input_transform(a);
  }
  // Frequency xi: the three Gauss products of the output channels in row blocks
  // [kb_begin, kb_end) (kRows channels each).
  void multiply(int64_t g, int64_t xi, const float* v, float* m, int64_t kb_begin, int64_t kb_end) const {
    const int64_t Cg = q.Cg(), Kg = q.Kg();
    const float* Ug = U + g * q.group_floats() + xi * 3 * q.plane_floats();
    for (int plane = 0; plane < 3; ++plane)
      for (int64_t kb = kb_begin; kb < kb_end; ++kb)
        gemm(Ug + plane * q.plane_floats() + kb * kRows * Cg, v + (xi * 3 + plane) * Cg * kLanes,
             m + ((xi * 3 + plane) * Kg + kb * kRows) * kLanes, Cg,
             static_cast<int>(std::min<int64_t>(kRows, Kg - kb * kRows)));
  }
  // Inverse DFT of output channel k of group g from M into y (plus bias).
  void output(int64_t g, int64_t block, int64_t k, const float* m) const {
    const int64_t Kg = q.Kg(), out_plane = q.OH * q.OW;
    fft::OutputArgs a;
    a.tiles = tiles(block);
    a.m = m + k * kLanes;
    a.xi_stride = 3 * Kg * kLanes;
    a.plane_stride = Kg * kLanes;
    a.y = y + (g * Kg + k) * out_plane;
    a.image_stride = q.K * out_plane;
    a.OH = q.OH;
    a.OW = q.OW;
    a.bias = bias ? bias[g * Kg + k] : 0.f;
    kern.output_transform(a);
  }
};

// Threads take whole blocks, each with its own V and M (no synchronisation, and each
// block's data stays in one core's caches). Sharing one block across the team (input
// channels, then frequencies, then output channels per thread, with barriers between)
// measured 1.5x slower at 2 threads than whole blocks on the 5x5 layer: V and M (6 MB
// for 16x16 windows) then move between the cores every phase. Only the blocks left over
// after an equal share (blocks % threads) are split: every thread transforms such a
// block's input itself and computes its own range of output channels.
void run(const Problem& q, const float* x, const float* U, const float* bias, float* y) {
  const int64_t ntiles = q.tiles(), nblocks = ceil_div(ntiles, kLanes);
  if (ntiles == 0) return;
  fft::Tiles geo;
  geo.TH = q.TH();
  geo.TW = q.TW();
  geo.step_h = q.step_h();
  geo.step_w = q.step_w();
  geo.pad_top = q.pad_top;
  geo.pad_left = q.pad_left;
  const fft::Kernels& kern = fft::kernels_for(active_isa(), q.T);
  const BlockPhases ph{q, kern, kern.gemm, geo, x, U, bias, y};
  const int nt = num_threads();
  const int64_t units = q.groups * nblocks, vf = q.v_floats(), mf = q.m_floats();
  const int64_t Cg = q.Cg(), Kg = q.Kg(), NF = q.nf();
  const int64_t KB = q.KB(), whole = units - units % nt;
  // One block (gb) for the output row blocks [kb_begin, kb_end).
  auto block_part = [&](int64_t gb, int64_t kb_begin, int64_t kb_end, float* v, float* m) {
    const int64_t g = gb / nblocks, block = gb % nblocks;
    for (int64_t c = 0; c < Cg; ++c) ph.input(g, block, c, v);
    for (int64_t xi = 0; xi < NF; ++xi) ph.multiply(g, xi, v, m, kb_begin, kb_end);
    for (int64_t k = kb_begin * kRows; k < std::min(kb_end * kRows, Kg); ++k) ph.output(g, block, k, m);
  };
  ScratchBuffer V(checked_numel({nt, vf}, "fft workspace")), M(checked_numel({nt, mf}, "fft workspace"));
  run_team(nt, [&](int tid, int team) {
    float* v = V.data() + tid * vf;
    float* m = M.data() + tid * mf;
    const auto [gb_begin, gb_end] = team_share(whole, tid, team);
    for (int64_t gb = gb_begin; gb < gb_end; ++gb) block_part(gb, 0, KB, v, m);
    // The leftover blocks, each cut into nt parts by output row blocks.
    const auto [item_begin, item_end] = team_share((units - whole) * nt, tid, team);
    for (int64_t item = item_begin; item < item_end; ++item) {
      const int64_t part = item % nt, kb_begin = KB * part / nt, kb_end = KB * (part + 1) / nt;
      if (kb_begin < kb_end) block_part(whole + item / nt, kb_begin, kb_end, v, m);
    }
  });
}

// The problem's filters in [K, C/groups, R, S] order, from tap(k, c, r, s).
template <typename Tap>
std::vector<float> problem_filters(const Problem& q, Tap tap) {
  const int64_t Cg = q.Cg();
  std::vector<float> f(static_cast<size_t>(q.K * Cg * q.R * q.S));
  for (int64_t k = 0; k < q.K; ++k)
    for (int64_t c = 0; c < Cg; ++c)
      for (int64_t r = 0; r < q.R; ++r)
        for (int64_t s = 0; s < q.S; ++s) f[((k * Cg + c) * q.R + r) * q.S + s] = tap(k, c, r, s);
  return f;
}

// Filter DFTs, then run(), under the NaN/inf rule (nonfinite.h): a window's DFT mixes all
// its pixels, so the fast path only ever sees finite data.
template <typename Tap>
void run_keeping_nonfinite(const Problem& q, const float* x, const float* w, int64_t w_count, Tap tap,
                           const float* bias, float* y) {
  const int nt = num_threads();
  ConvEpilogue ep;
  ep.bias = bias;
  nonfinite::keep_nonfinite(
      nonfinite::Correlation{q.N, q.C, q.H, q.W, q.K, q.groups, q.OH, q.OW, q.R, q.S, q.pad_top, q.pad_left}, x,
      nonfinite::Filters{w, w_count}, ep, y, nt,
      [&](const float* xf) {
        ScratchBuffer U(static_cast<size_t>(q.packed_floats()));
        transform_filters(q, tap, U.data());
        run(q, xf, U.data(), bias, y);
      },
      [&] { return problem_filters(q, tap); });
}

void forward_T(int T, const ConvParams& p, const float* x, const float* w, const float* bias, float* y) {
  const Problem q = forward_problem(p, T);
  const int64_t Cg = q.Cg(), R = p.R, S = p.S;
  run_keeping_nonfinite(
      q, x, w, p.K * Cg * R * S,
      [&](int64_t k, int64_t c, int64_t r, int64_t s) { return w[((k * Cg + c) * R + r) * S + s]; }, bias, y);
}

void backward_input_T(int T, const ConvParams& p, const float* dy, const float* w, float* dx) {
  const Problem q = backward_input_problem(p, T);
  const int64_t Cg_old = p.C / p.groups, Kg_old = p.K / p.groups, R = p.R, S = p.S;
  run_keeping_nonfinite(
      q, dy, w, p.K * Cg_old * R * S,
      [&](int64_t k_new, int64_t k_old_in_group, int64_t r, int64_t s) {
        const int64_t g = k_new / Cg_old, c_old = k_new % Cg_old;
        const int64_t k_old = g * Kg_old + k_old_in_group;
        return w[((k_old * Cg_old + c_old) * R + (R - 1 - r)) * S + (S - 1 - s)];
      },
      nullptr, dx);
}

int default_T(const ConvParams& p) { return fft_default_window(p); }

template <int T>
bool supports_T(const ConvParams& p, std::string* why) { return fft_supports(p, T, why); }
template <int T>
void forward_m(const ConvParams& p, const float* x, const float* w, const float* b, float* y) { forward_T(T, p, x, w, b, y); }
template <int T>
void backward_input_m(const ConvParams& p, const float* dy, const float* w, float* dx) { backward_input_T(T, p, dy, w, dx); }
size_t workspace(const ConvParams& p, int T) {
  const Problem q = forward_problem(p, T);
  return size_t(q.packed_floats() + int64_t(num_threads()) * (q.v_floats() + q.m_floats())) * sizeof(float);
}
template <int T>
size_t workspace_m(const ConvParams& p) { return workspace(p, T); }

bool supports_any(const ConvParams& p, std::string* why) {
  return fft_supports(p, 8, why) || fft_supports(p, 16, why);
}
void forward_any(const ConvParams& p, const float* x, const float* w, const float* b, float* y) {
  forward_T(default_T(p), p, x, w, b, y);
}
void backward_input_any(const ConvParams& p, const float* dy, const float* w, float* dx) {
  backward_input_T(default_T(p), p, dy, w, dx);
}
size_t workspace_any(const ConvParams& p) { return workspace(p, default_T(p)); }

}  // namespace

// Single-thread time model, least squares (relative error) over 13 layers x both
// windows measured with the butterfly kernels (5x5..9x9, batch 1..32, 3..256 channels;
// each estimate within -15%..+23%, and on every one of those layers the window and the
// FFT-vs-im2col choice it implies is the faster one):
//   GEMM:       0.026 ms per million real multiply-adds (3 per complex product; the
//               32-lane blocks count whole, the half-empty last one too),
//   transforms: 0.16 ms per million (lane x channel x T^2 log2 T), input and output,
//   filters:    0.25 ms per million (channel x padded filter x frequency x tap row).
double fft_estimated_ms(const ConvParams& p, int T) {
  const Problem q = forward_problem(p, T);
  const double lanes = double(ceil_div(q.tiles(), kLanes)) * kLanes, g = double(q.groups);
  const double Cg = double(q.Cg()), Kg = double(q.Kg()), nf = double(q.nf());
  const double gemm = g * lanes * 3.0 * nf * Cg * Kg;
  const double transforms = g * lanes * (Cg + Kg) * T * T * std::log2(double(T));
  const double filters = g * Cg * double(q.KB() * kRows) * T * (T / 2 + 1) * double(q.R);
  return (0.026 * gemm + 0.16 * transforms + 0.25 * filters) * 1e-6;
}

// With nt threads each thread runs floor(blocks / nt) whole blocks and a part of each
// leftover block (run()). The 5x5 layer at 2 threads, quiet machine: fft16 6.3 ms,
// fft8 7.5 ms (10.6 and 14.2 ms on one thread).
int fft_default_window(const ConvParams& p) {
  const int nt = num_threads();
  int best_T = 0;
  double best = 0;
  for (int T : {16, 8}) {
    if (!fft_supports(p, T, nullptr)) continue;
    const Problem q = forward_problem(p, T);
    const double units = double(q.groups * ceil_div(q.tiles(), kLanes));
    double ms = fft_estimated_ms(p, T);
    if (nt > 1 && units > 0) {
      // Per thread: its whole blocks, plus for each leftover block the input transform
      // (~1/4 of a block) and 1/nt of the rest (run()).
      const double leftover = double(int64_t(units) % nt);
      ms *= (std::floor(units / nt) + leftover * (0.25 + 0.75 / nt)) / units;
    }
    if (best_T == 0 || ms < best) {
      best = ms;
      best_T = T;
    }
  }
  return best_T;
}

bool fft_supports(const ConvParams& p, int T, std::string* why) {
  auto no = [&](const std::string& reason) {
    if (why) *why = reason;
    return false;
  };
  if (T != 8 && T != 16) return no(concat("FFT window ", T, " is not 8 or 16"));
  if (!fft_enabled()) return no("FFT is switched off (set_fast_algorithms(fft=False))");
  if (p.stride_h != 1 || p.stride_w != 1)
    return no(concat("tiled FFT needs stride 1 (strided outputs would waste stride^2 of the work), got (",
                     p.stride_h, ", ", p.stride_w, ")"));
  if (p.dilation_h != 1 || p.dilation_w != 1)
    return no(concat("tiled FFT needs dilation 1, got (", p.dilation_h, ", ", p.dilation_w, ")"));
  if (p.R > T || p.S > T) return no(concat("kernel ", p.R, "x", p.S, " is larger than the ", T, "x", T, " FFT window"));
  // The transformed filters take 4*T*(T/2+1)/(R*S) times the weights' memory (64x for
  // 3x3 in 16x16 windows): refuse shapes where that passes kMaxWeightBytes.
  const double bytes = 4.0 * double(forward_problem(p, T).packed_floats());
  if (bytes > kMaxWeightBytes)
    return no(concat("the ", T, "x", T, " FFT filters would need ", int64_t(bytes / (1 << 20)), " MiB (limit ",
                     int64_t(kMaxWeightBytes / (1 << 20)), " MiB)"));
  return true;
}

CNNNATIVE_REGISTER_CONV_ALGORITHM(fft8, ConvAlgorithm{"fft8", &supports_T<8>, &forward_m<8>, &backward_input_m<8>,
                                                      &workspace_m<8>});
CNNNATIVE_REGISTER_CONV_ALGORITHM(fft16, ConvAlgorithm{"fft16", &supports_T<16>, &forward_m<16>,
                                                       &backward_input_m<16>, &workspace_m<16>});
CNNNATIVE_REGISTER_CONV_ALGORITHM(fft, ConvAlgorithm{"fft", &supports_any, &forward_any, &backward_input_any,
                                                     &workspace_any});

}  // namespace cnnnative
