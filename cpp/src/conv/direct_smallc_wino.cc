// Driver of the small-channel convolution with 1-D Winograd F(2,3) / F(2,4) along the width
// (see direct_smallc_wino.h): chunks of output pairs, the transformed input planes of each
// chunk's rows in the thread's scratch, the ISA's band kernel. Algorithm
// "direct_smallc_wino".
#include "direct_smallc_wino.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <memory>
#include <utility>
#include <vector>

#include "act/epilogue_activation.h"
#include "autotune.h"  // ScratchBuffer
#include "cnnnative/conv.h"
#include "cnnnative/errors.h"
#include "cnnnative/thread_pool.h"
#include "cnnnative/threads.h"
#include "direct_smallc.h"
#include "direct_smallc_kernels.h"  // deinterleave, kPlanePadFloats
#include "nonfinite.h"

namespace cnnnative {
namespace direct_smallc_wino {
namespace {

constexpr int64_t kBandBudgetFloats = 96 * 1024;  // a chunk's planes stay in L2
constexpr int64_t kMaxScratchMiB = 64;

int64_t round16(int64_t n) { return (n + 15) / 16 * 16; }

// The width phases of the kernel: which slots hold a tap, the family, and the tap order
// shared by pack_weights and the driver (full phases first, then reduced ones).
struct Phases {
  int points = 0;                  // 4 or 5
  std::vector<int64_t> full, reduced;  // phase indices a
  int64_t max_slot = 0;
};

Phases phases(const ConvParams& p) {
  Phases ph;
  const int64_t sw = p.stride_w;
  std::vector<std::pair<int64_t, int>> slots;  // (phase a, bit m set: slot m holds a tap), a ascending
  for (int64_t s = 0; s < p.S; ++s) {
    const int64_t col = s * p.dilation_w, a = col % sw, m = col / sw;
    ph.max_slot = std::max(ph.max_slot, m);
    auto it = std::find_if(slots.begin(), slots.end(), [&](const std::pair<int64_t, int>& e) { return e.first == a; });
    if (it == slots.end()) it = slots.insert(std::upper_bound(slots.begin(), slots.end(), std::make_pair(a, 0)), {a, 0});
    if (m < kMaxSlots) it->second |= 1 << m;
  }
  ph.points = ph.max_slot <= 2 ? 4 : 5;
  for (const auto& e : slots) (e.second >> (ph.points - 2) & 1 ? ph.full : ph.reduced).push_back(e.first);
  return ph;
}

// Tap t of the packed order: (c, r, a).
struct Tap {
  int64_t c, r, a;
};

std::vector<Tap> tap_order(const ConvParams& p, const Phases& ph) {
  std::vector<Tap> taps;
  for (const auto* list : {&ph.full, &ph.reduced})
    for (int64_t c = 0; c < p.C; ++c)
      for (int64_t r = 0; r < p.R; ++r)
        for (int64_t a : *list) taps.push_back({c, r, a});
  return taps;
}

struct Geometry {
  int points = 4;
  int64_t OH = 0, OW = 0, PW = 0;  // PW = ceil(OW / 2) output pairs per row
  int64_t halo = 0;
  int64_t tiles = 1, chunks = 1, chunk_pairs = 0, band_rows = 1;
  int64_t planes = 0;        // C * stride_w * stride_h * points
  int64_t plane_floats = 0;  // (band_rows + halo) * PW
  int64_t phase_width = 0;   // de-interleaved row (stride 2 * stride_w), zero-padded past the image
  int64_t thread_floats = 0;
};

Geometry geometry(const ConvParams& p, int threads) {
  Geometry g;
  g.points = family_points(p);
  g.OH = p.output_h();
  g.OW = p.output_w();
  g.PW = (g.OW + 1) / 2;
  const int64_t sh = p.stride_h, sw = p.stride_w;
  const int64_t pairs = checked_mul(g.OH, g.PW, "output pairs");
  g.halo = (p.R - 1) * p.dilation_h / sh;
  g.planes = checked_numel({p.C, sw, sh, g.points}, "direct_smallc_wino planes");
  const int64_t row_floats = checked_mul(g.planes, std::max<int64_t>(g.PW, 1), "direct_smallc_wino plane row");
  const int64_t fit_rows = std::max<int64_t>(1, kBandBudgetFloats / row_floats - g.halo - 1);
  const int64_t pw = std::max<int64_t>(g.PW, 1);
  int64_t chunks = std::max<int64_t>(1, (pairs + fit_rows * pw - 1) / (fit_rows * pw));
  const int64_t images = std::max<int64_t>(p.N, 1);
  chunks = std::max(chunks, std::min((4 * int64_t(threads) + images - 1) / images, (pairs + 31) / 32));
  // Chunks of whole 16-pair tiles, spread evenly (chunk i: tiles [i T / chunks, (i+1) T / chunks)),
  // so that 2 threads get equal work rather than one taking a short last chunk.
  g.tiles = std::max<int64_t>(1, (pairs + 15) / 16);
  g.chunks = std::max<int64_t>(1, std::min(chunks, g.tiles));
  g.chunk_pairs = 16 * ((g.tiles + g.chunks - 1) / g.chunks);  // the largest chunk
  g.band_rows = std::min(g.OH, (g.chunk_pairs + pw - 1) / pw + 1);
  g.plane_floats = checked_mul(g.band_rows + g.halo, pw, "direct_smallc_wino plane");
  const int64_t Wp = checked_add(checked_add(p.W, p.pad_left), p.pad_right, "padded width");
  // d_(points-1) of the last pair reads up to 2 elements past PW in its phase (the pad
  // column of an odd width and zero-weighted slots included, so they must be zeros or
  // image, never garbage).
  g.phase_width = std::max((Wp + 2 * sw - 1) / (2 * sw), g.PW + 3);
  g.thread_floats = checked_add(round16(checked_mul(g.planes, g.plane_floats, "planes") + direct_smallc::kPlanePadFloats),
                                round16(checked_mul(2 * sw, g.phase_width, "phase row")), "direct_smallc_wino");
  return g;
}

// Transformed planes T(c, a, q, i)[row][t] for the chunk starting at output row oh0;
// phases without taps are skipped, reduced ones get all but their last point.
using TransformRowFn = void (*)(int points, int outputs, const float* const d[kMaxPoints],
                                float* const o[kMaxPoints], int64_t n);

void build_planes(const ConvParams& p, const Geometry& g, const Phases& phs, const std::vector<char>& phase_used,
                  const float* xn, int64_t oh0, int64_t rows, float* planes, float* ph, TransformRowFn transform_row) {
  const int64_t sh = p.stride_h, sw = p.stride_w, PW = g.PW, width = g.phase_width;
  const int P = g.points;
  auto plane = [&](int64_t c, int64_t a, int64_t q, int64_t i) {
    return planes + (((c * sw + a) * sh + q) * P + i) * g.plane_floats;
  };
  for (int64_t c = 0; c < p.C; ++c) {
    const float* xc = xn + c * p.H * p.W;
    for (int64_t lr = 0; lr < rows + g.halo; ++lr) {
      for (int64_t q = 0; q < sh; ++q) {
        if (!phase_used[size_t(q)]) continue;
        const int64_t ih = sh * (oh0 + lr) + q - p.pad_top;
        const bool inside = ih >= 0 && ih < p.H;
        if (inside) direct_smallc::deinterleave(xc + ih * p.W, p.W, p.pad_left, 2 * sw, width, ph);
        for (const auto* list : {&phs.full, &phs.reduced}) {
          const int outputs = list == &phs.full ? P : P - 1;
          for (int64_t a : *list) {
            float* o[kMaxPoints];
            for (int i = 0; i < outputs; ++i) o[i] = plane(c, a, q, i) + lr * PW;
            if (!inside) {
              for (int i = 0; i < outputs; ++i) std::memset(o[i], 0, sizeof(float) * size_t(PW));
              continue;
            }
            // d_e[t] = phase a of the padded row at 2t + e = padded[2 sw t + sw e + a].
            const float* d[kMaxPoints];
            for (int e = 0; e < P; ++e) {
              const int64_t v = sw * e + a;
              d[e] = ph + (v % (2 * sw)) * width + v / (2 * sw);
            }
            transform_row(P, outputs, d, o, PW);
          }
        }
      }
    }
  }
}

bool supports_entry(const ConvParams& p, std::string* why) { return supports(p, why); }
size_t workspace_entry(const ConvParams& p) { return workspace_bytes(p, num_threads()); }

}  // namespace

int family_points(const ConvParams& p) { return phases(p).points; }

int64_t multiplies_per_pair_row(const ConvParams& p) {
  const Phases ph = phases(p);
  return int64_t(ph.full.size()) * ph.points + int64_t(ph.reduced.size()) * (ph.points - 1);
}

bool supports(const ConvParams& p, std::string* why) {
  std::string base;
  if (!direct_smallc::supports(p, &base)) {
    if (why) *why = base;
    return false;
  }
  if ((p.S - 1) * p.dilation_w / p.stride_w >= kMaxSlots) {
    if (why)
      *why = concat("direct_smallc_wino needs at most ", kMaxSlots, " kernel columns per stride phase, got kernel width ",
                    p.S, " (dilation ", p.dilation_w, ") at stride ", p.stride_w);
    return false;
  }
  const int64_t mib = geometry(p, 1).thread_floats * int64_t(sizeof(float)) >> 20;
  if (mib > kMaxScratchMiB) {
    if (why) *why = concat("direct_smallc_wino would need ", mib, " MiB of scratch per thread");
    return false;
  }
  return true;
}

bool preferred(const ConvParams& p) {
  const Isa isa = active_isa();
  if (!(isa == Isa::avx512 || isa == Isa::avx2) || !supports(p, nullptr)) return false;
  const int64_t multiplies = multiplies_per_pair_row(p);
  if (20 * 2 * p.S >= 29 * multiplies) return true;
  // 1.33x-1.45x fewer (4x4/2, 5x5/2, 2x2/1) pays under AVX2 once the layer is wide and
  // large enough to hide the transforms and the per-call weight packing (see the header).
  return isa == Isa::avx2 && 3 * 2 * p.S >= 4 * multiplies && p.K >= 64 &&
         p.N * p.output_h() * p.output_w() >= 2048;
}

int64_t packed_weight_floats(const ConvParams& p) {
  const Phases ph = phases(p);
  const int64_t B = block_k(ph.points), blocks = (p.K + B - 1) / B, used = int64_t(ph.full.size() + ph.reduced.size());
  return checked_numel({blocks, p.C, p.R, used, ph.points, B}, "direct_smallc_wino packed weights");
}

void pack_weights(const ConvParams& p, const float* w, float* packed) {
  const Phases ph = phases(p);
  const std::vector<Tap> order = tap_order(p, ph);
  const int P = ph.points;
  const int64_t B = block_k(P), sw = p.stride_w, taps = int64_t(order.size()), blocks = (p.K + B - 1) / B;
  // column[a][m]: the kernel column s of phase a's slot m (s * dil = sw * m + a), or -1.
  // Found once per phase, not per tap and channel: this runs on every
  // algo="direct_smallc_wino" call, where the per-tap search cost 5% of AlexNet conv1.
  std::vector<std::array<int64_t, kMaxSlots>> column(static_cast<size_t>(sw));
  for (auto& c : column) c.fill(-1);
  for (int64_t s = 0; s < p.S; ++s) {
    const int64_t m = s * p.dilation_w / sw;
    if (m < kMaxSlots) column[size_t(s * p.dilation_w % sw)][size_t(m)] = s;
  }
  const int64_t K = p.K, CRS = p.C * p.R * p.S;
  // Parallel over channel blocks: on the ops.conv2d path this runs before every call and
  // would otherwise leave the other threads idle.
  // A team only when there is enough to split: a small layer's packing takes microseconds.
  const int threads = blocks * taps * P * B >= 16384 ? num_threads() : 1;
  team_for_each(threads, blocks, [&](int64_t b) {
    for (int64_t t = 0; t < taps; ++t) {
      const Tap tp = order[size_t(t)];
      const std::array<int64_t, kMaxSlots> cols = column[size_t(tp.a)];
      const float* wt = w + (tp.c * p.R + tp.r) * p.S;  // channel k's row at wt + k * CRS
      float* dst = packed + (b * taps + t) * P * B;
      for (int64_t kk = 0; kk < B; ++kk) {
        const int64_t k = b * B + kk;
        double g[kMaxSlots] = {0, 0, 0, 0};  // the phase's taps by slot
        if (k < K)
          for (int m = 0; m < kMaxSlots; ++m)
            if (cols[size_t(m)] >= 0) g[m] = wt[k * CRS + cols[size_t(m)]];
        double G[kMaxPoints];
        if (P == 4) {
          G[0] = g[0];
          G[1] = (g[0] + g[1] + g[2]) / 2;
          G[2] = (g[0] - g[1] + g[2]) / 2;
          G[3] = g[2];
        } else {
          G[0] = g[0] / 2;
          G[1] = (g[0] + g[1] + g[2] + g[3]) / 2;
          G[2] = (g[0] - g[1] + g[2] - g[3]) / 6;
          G[3] = (g[0] + 2 * g[1] + 4 * g[2] + 8 * g[3]) / 6;
          G[4] = g[3];
        }
        for (int i = 0; i < P; ++i) dst[i * B + kk] = static_cast<float>(G[i]);
      }
    }
  });
}

size_t workspace_bytes(const ConvParams& p, int threads) {
  const Geometry g = geometry(p, threads);
  return size_t(checked_numel({int64_t(threads), g.thread_floats, int64_t(sizeof(float))}, "direct_smallc_wino workspace"));
}

namespace {

void forward_finite(const ConvParams& p, const float* x, const float* packed_w, const ConvEpilogue& ep, float* y,
                    float* workspace, size_t workspace_size, int threads) {
  const Geometry g = geometry(p, threads);
  const Phases phs = phases(p);
  const std::vector<Tap> order = tap_order(p, phs);
  const Isa isa = active_isa();
  const auto band = isa == Isa::avx512 ? &band_avx512 : isa == Isa::avx2 ? &band_avx2 : &band_scalar;
  const TransformRowFn transform_row = isa == Isa::avx512 ? &transform_row_avx512
                                       : isa == Isa::avx2 ? &transform_row_avx2
                                                          : &transform_row_scalar;
  const int64_t sh = p.stride_h, sw = p.stride_w, taps = int64_t(order.size());
  std::vector<int64_t> tap_offset(static_cast<size_t>(taps));
  std::vector<char> phase_used(static_cast<size_t>(sh), 0);
  for (int64_t t = 0; t < taps; ++t) {
    const Tap tp = order[size_t(t)];
    const int64_t q = tp.r * p.dilation_h % sh, row = tp.r * p.dilation_h / sh;
    phase_used[size_t(q)] = 1;
    tap_offset[size_t(t)] = ((tp.c * sw + tp.a) * sh + q) * g.points * g.plane_floats + row * g.PW;
  }
  std::unique_ptr<ScratchBuffer> own;
  const int64_t need = checked_mul(threads, g.thread_floats, "direct_smallc_wino workspace");
  if (!workspace || workspace_size < size_t(need) * sizeof(float)) {
    own = std::make_unique<ScratchBuffer>(size_t(need));
    workspace = own->data();
  }
  const int64_t pairs = g.OH * g.PW, P = g.OH * g.OW, in_image = p.C * p.H * p.W;
  const int64_t items = p.N * g.chunks;
  const int64_t full_taps = p.C * p.R * int64_t(phs.full.size());
  const ActivationPass pass = activation_pass(ep);  // what the band's store does not apply
  DynamicChunks work(items, 1);
  run_team(threads, [&](int tid, int) {
    float* planes = workspace + int64_t(tid) * g.thread_floats;
    float* ph = planes + round16(g.planes * g.plane_floats + direct_smallc::kPlanePadFloats);
    int64_t item, item_end;
    while (work.next(&item, &item_end)) {
      const int64_t n = item / g.chunks, i = item % g.chunks;
      const int64_t j0 = 16 * (i * g.tiles / g.chunks), j1 = std::min(pairs, 16 * ((i + 1) * g.tiles / g.chunks));
      const int64_t oh0 = j0 / g.PW, rows = (j1 - 1) / g.PW + 1 - oh0;
      build_planes(p, g, phs, phase_used, x + n * in_image, oh0, rows, planes, ph, transform_row);
      BandArgs a;
      a.points = g.points;
      a.planes = planes + (j0 - oh0 * g.PW);
      a.tap_offset = tap_offset.data();
      a.point_stride = g.plane_floats;
      a.taps = taps;
      a.full_taps = full_taps;
      a.packed_w = packed_w;
      a.bias = ep.bias;
      a.K = p.K;
      a.first_pair = j0;
      a.pairs = j1 - j0;
      a.PW = g.PW;
      a.OW = g.OW;
      a.y = y + n * p.K * P;
      a.residual = ep.residual ? ep.residual + n * p.K * P : nullptr;
      a.ld = P;
      a.act = stored_by_kernel(ep.activation);
      band(a);
      // The pixels the band just stored (pairs j0..j1 cover one flat range), in cache.
      const int64_t first = (j0 / g.PW) * g.OW + 2 * (j0 % g.PW);
      const int64_t last = ((j1 - 1) / g.PW) * g.OW + std::min(2 * ((j1 - 1) % g.PW) + 2, g.OW);
      pass.apply_rows(a.y + first, p.K, last - first, P, 0);
    }
  });
}

}  // namespace

void forward_packed(const ConvParams& p, const float* x, const float* packed_w, const float* w,
                    const ConvEpilogue& ep, float* y, float* workspace, size_t workspace_size, int threads) {
  if (p.N == 0) return;
  nonfinite::Correlation q{p.N, p.C, p.H, p.W, p.K, p.groups, p.output_h(), p.output_w(), p.R, p.S, p.pad_top, p.pad_left};
  q.stride_h = p.stride_h;
  q.stride_w = p.stride_w;
  q.dilation_h = p.dilation_h;
  q.dilation_w = p.dilation_w;
  nonfinite::keep_nonfinite(
      q, x, nonfinite::Filters{w, p.K * p.channels_per_group() * p.R * p.S}, ep, y, threads,
      [&](const float* xf) { forward_finite(p, xf, packed_w, ep, y, workspace, workspace_size, threads); },
      [&] { return std::vector<float>(w, w + p.K * p.channels_per_group() * p.R * p.S); });
}

void forward(const ConvParams& p, const float* x, const float* w, const float* bias, float* y) {
  // Reused scratch, not a fresh vector: 200 KB for AlexNet conv1, which a vector would
  // zero-fill and the allocator map and unmap on every call (4% of the call).
  ScratchBuffer packed(static_cast<size_t>(packed_weight_floats(p)));
  pack_weights(p, w, packed.data());
  ConvEpilogue ep;
  ep.bias = bias;
  forward_packed(p, x, packed.data(), w, ep, y, nullptr, 0, num_threads());
}

CNNNATIVE_REGISTER_CONV_ALGORITHM(direct_smallc_wino,
                                  ConvAlgorithm{"direct_smallc_wino", &supports_entry, &forward, nullptr,
                                                &workspace_entry});

}  // namespace direct_smallc_wino
}  // namespace cnnnative
