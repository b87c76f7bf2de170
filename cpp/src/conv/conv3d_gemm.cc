// conv3d by vol2col + the packed SGEMM (conv3d.h), and the entry points that choose
// between it, the direct kernel (conv3d_direct.h) and the direct depthwise kernel.
//
// Work is split into units (image n, group g, band of output rows). When there are
// enough units to keep every thread busy they run in parallel, each with its own column
// scratch and single-threaded GEMM (no barrier per band); otherwise they run in order
// with a threaded vol2col and GEMM. The column scratch per unit is kept to about
// kColumnFloats so it stays in cache between vol2col writing it and the GEMM packing it.
//
// The input gradient of a stride-1 convolution is itself a stride-1 convolution of dy
// with the kernel flipped and in/out channels swapped (padding dilation*(k-1) - pad), so
// it takes the forward path, parallel bands included. Other strides use GEMM + col2vol,
// whose bands of one image overlap in dx and so run in order.
#include <algorithm>
#include <vector>

#include "cnnnative/errors.h"
#include "cnnnative/gemm.h"
#include "cnnnative/thread_pool.h"
#include "cnnnative/threads.h"
#include "conv/conv3d.h"
#include "conv/conv3d_direct.h"
#include "conv/im2col.h"
#include "conv/nonfinite.h"

namespace cnnnative {
namespace {

// Column-matrix floats per band (2 MiB): measured on the C3D layer (64 -> 64, 3x3x3,
// 16x56x56), see benchmarks/bench_conv3d.py.
constexpr int64_t kColumnFloats = int64_t(1) << 19;

// Per-thread copies of dw above this many floats in all are not worth it.
constexpr int64_t kMaxPartialFloats = int64_t(1) << 26;

struct Plan {
  int64_t rows = 0, OW = 0, P = 0;  // output rows (od, oh) per image, row length, OD*OH*OW
  int64_t CRS = 0;                  // column-matrix rows: Cg * T * R * S
  int64_t band_rows = 0, bands = 0, units = 0;
  bool pointwise = false;           // 1x1x1, stride 1, no padding: the input is the column matrix
  bool parallel = false;            // units in parallel, single-threaded kernels inside
  int threads = 1;
  int64_t column_floats = 0;        // scratch per slot

  int slots() const { return parallel ? threads : 1; }
};

enum class Algo { gemm, direct, depthwise };

bool is_pointwise(const Conv3dParams& p) {
  for (int d = 0; d < 3; ++d)
    if (p.kernel[d] != 1 || p.stride[d] != 1 || p.pad_lo[d] != 0 || p.pad_hi[d] != 0) return false;
  return true;
}

// split_bands: whether bands of one image may run in parallel (not for col2vol).
Plan make_plan(const Conv3dParams& p, bool split_bands) {
  Plan plan;
  plan.rows = p.out(0) * p.out(1);
  plan.OW = p.out(2);
  plan.P = plan.rows * plan.OW;
  plan.CRS = p.Cg() * p.taps();
  plan.pointwise = is_pointwise(p);
  plan.threads = num_threads();
  const int64_t row_floats = plan.CRS * plan.OW;
  plan.band_rows = std::clamp<int64_t>(kColumnFloats / std::max<int64_t>(row_floats, 1), 1, plan.rows);
  if (!split_bands) plan.band_rows = plan.rows;
  const int64_t images = p.N * p.groups;
  if (split_bands && images < 2 * plan.threads) {  // split images into bands for the threads
    const int64_t wanted = (2 * plan.threads + images - 1) / images;
    plan.band_rows = std::min(plan.band_rows, std::max<int64_t>(1, (plan.rows + wanted - 1) / wanted));
  }
  plan.bands = (plan.rows + plan.band_rows - 1) / plan.band_rows;
  plan.units = images * plan.bands;
  plan.parallel = plan.threads > 1 && (plan.units >= 2 * plan.threads || plan.units % plan.threads == 0);
  plan.column_floats = plan.pointwise ? 0 : checked_mul(plan.CRS, plan.band_rows * plan.OW, "column scratch");
  return plan;
}

struct Unit {
  int64_t n, g, r0, r1;
  int64_t len(int64_t OW) const { return (r1 - r0) * OW; }
};

Unit unit_at(const Conv3dParams& p, const Plan& plan, int64_t i) {
  const int64_t band = i % plan.bands, image = i / plan.bands;
  const int64_t r0 = band * plan.band_rows;
  return {image / p.groups, image % p.groups, r0, std::min(plan.rows, r0 + plan.band_rows)};
}

// f(unit, slot, threaded) for every unit. Static parts fixed here, one per planned
// thread: part s always runs the same units with slot s, whatever team runs the parts
// (fewer members, or the caller alone during a busy-machine back-off), so the weight
// gradient's per-slot partial sums, hence its rounding, are the same on every call
// (dynamic scheduling made repeated calls differ in the last bits).
template <typename F>
void run_units(const Conv3dParams& p, const Plan& plan, F&& f) {
  if (plan.parallel) {
    const int parts = plan.threads;
    team_for_each(parts, parts, [&](int64_t slot) {
      const auto [begin, end] = team_share(plan.units, int(slot), parts);
      for (int64_t i = begin; i < end; ++i) f(unit_at(p, plan, i), int(slot), false);
    });
  } else {
    for (int64_t i = 0; i < plan.units; ++i) f(unit_at(p, plan, i), 0, true);
  }
}

void gemm(bool threaded, bool ta, bool tb, int64_t M, int64_t N, int64_t K, const float* A,
          int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc,
          const GemmEpilogue& epilogue = GemmEpilogue::none()) {
  if (threaded)
    sgemm_ex(ta, tb, M, N, K, 1.f, A, lda, B, ldb, beta, C, ldc, epilogue);
  else
    sgemm_ex_single_thread(ta, tb, M, N, K, 1.f, A, lda, B, ldb, beta, C, ldc, epilogue);
}

// The band's column matrix (CRS x len, row stride len), or the input itself when pointwise.
const float* columns(const Conv3dParams& p, const Plan& plan, const Unit& u, const float* xg,
                     float* scratch, bool threaded, int64_t* ld) {
  if (plan.pointwise) {
    *ld = plan.P;
    return xg + u.r0 * plan.OW;
  }
  *ld = u.len(plan.OW);
  conv3d::vol2col(p, xg, u.r0, u.r1, scratch, *ld, threaded);
  return scratch;
}

void forward_gemm(const Conv3dParams& p, const float* x, const float* w, const float* bias, float* y) {
  const Plan plan = make_plan(p, true);
  const auto scratch = im2col::allocate_scratch(plan.column_floats * plan.slots());
  const int64_t V = p.in_volume(), Cg = p.Cg(), Kg = p.Kg();
  run_units(p, plan, [&](const Unit& u, int slot, bool threaded) {
    const float* xg = x + (u.n * p.C + u.g * Cg) * V;
    int64_t ld;
    const float* cols = columns(p, plan, u, xg, scratch.get() + slot * plan.column_floats, threaded, &ld);
    GemmEpilogue epilogue;  // the bias is added while C is still in registers
    epilogue.row_bias = bias ? bias + u.g * Kg : nullptr;
    float* yg = y + (u.n * p.K + u.g * Kg) * plan.P + u.r0 * plan.OW;
    gemm(threaded, false, false, Kg, u.len(plan.OW), plan.CRS, w + u.g * Kg * plan.CRS, plan.CRS,
         cols, ld, 0.f, yg, plan.P, epilogue);
  });
}

// The stride-1 input gradient as a forward convolution (see the top of this file), or
// false when the padding is too large for it (pad > dilation * (k - 1)).
bool backward_input_as_forward(const Conv3dParams& p, const float* dy, const float* w, float* dx,
                               Algo algo) {
  Conv3dParams q = p;
  for (int d = 0; d < 3; ++d) {
    const int64_t span = p.dilation[d] * (p.kernel[d] - 1);
    if (p.stride[d] != 1 || p.pad_lo[d] > span || p.pad_hi[d] > span) return false;
    q.in[d] = p.out(d);
    q.pad_lo[d] = span - p.pad_lo[d];
    q.pad_hi[d] = span - p.pad_hi[d];
  }
  q.C = p.K;
  q.K = p.C;
  // w'[g, c, k, flipped tap] = w[g, k, c, tap]: in/out channels swapped within each group.
  const int64_t taps = p.taps(), Cg = p.Cg(), Kg = p.Kg();
  std::vector<float> flipped(size_t(p.weight_numel()));
  team_for_each(cnnnative::num_threads(), p.groups * Cg, [&](int64_t gc) {
    const int64_t g = gc / Cg, c = gc % Cg;
    for (int64_t k = 0; k < Kg; ++k) {
      const float* src = w + ((g * Kg + k) * Cg + c) * taps;
      float* dst = flipped.data() + (gc * Kg + k) * taps;
      for (int64_t t = 0; t < taps; ++t) dst[taps - 1 - t] = src[t];
    }
  });
  if (algo == Algo::depthwise)
    conv3d::depthwise_forward(q, dy, flipped.data(), nullptr, dx);
  else if (algo == Algo::direct && conv3d::direct_forward_supported(q) &&
           nonfinite::all_finite(flipped.data(), p.weight_numel(), num_threads()))
    conv3d::direct_forward(q, dy, flipped.data(), nullptr, dx);
  else
    forward_gemm(q, dy, flipped.data(), nullptr, dx);
  return true;
}

void backward_input_gemm(const Conv3dParams& p, const float* dy, const float* w, float* dx, Algo algo) {
  if (backward_input_as_forward(p, dy, w, dx, algo)) return;
  Plan plan = make_plan(p, false);  // units are whole (image, group)s
  // Units of a whole image need a whole image's column matrix: when that is large, run
  // them in order and walk the image in bands of kColumnFloats.
  int64_t band_rows = plan.rows;
  if (!plan.parallel || plan.column_floats > 4 * kColumnFloats) {
    plan.parallel = false;
    band_rows = std::clamp<int64_t>(kColumnFloats / std::max<int64_t>(plan.CRS * plan.OW, 1), 1, plan.rows);
    plan.column_floats = checked_mul(plan.CRS, band_rows * plan.OW, "column scratch");
  }
  const auto scratch = im2col::allocate_scratch(plan.column_floats * plan.slots());
  const int64_t V = p.in_volume(), Cg = p.Cg(), Kg = p.Kg();
  run_units(p, plan, [&](const Unit& u, int slot, bool threaded) {
    float* cols = scratch.get() + slot * plan.column_floats;
    float* dxg = dx + (u.n * p.C + u.g * Cg) * V;
    const float* dyg = dy + (u.n * p.K + u.g * Kg) * plan.P;
    const float* wg = w + u.g * Kg * plan.CRS;
    std::fill(dxg, dxg + Cg * V, 0.f);
    for (int64_t r0 = 0; r0 < plan.rows; r0 += band_rows) {
      const int64_t r1 = std::min(plan.rows, r0 + band_rows), len = (r1 - r0) * plan.OW;
      gemm(threaded, true, false, plan.CRS, len, Kg, wg, plan.CRS, dyg + r0 * plan.OW, plan.P, 0.f,
           cols, len);
      conv3d::col2vol(p, cols, len, r0, r1, dxg, threaded);
    }
  });
}

void backward_weight_gemm(const Conv3dParams& p, const float* x, const float* dy, float* dw) {
  Plan plan = make_plan(p, true);
  const int64_t dw_numel = p.weight_numel();
  if (plan.parallel && checked_mul(dw_numel, plan.threads) > kMaxPartialFloats) plan.parallel = false;
  const auto scratch = im2col::allocate_scratch(plan.column_floats * plan.slots());
  std::vector<float> partials;
  if (plan.parallel) partials.assign(size_t(dw_numel * plan.threads), 0.f);
  std::fill(dw, dw + dw_numel, 0.f);
  const int64_t V = p.in_volume(), Cg = p.Cg(), Kg = p.Kg();
  run_units(p, plan, [&](const Unit& u, int slot, bool threaded) {
    const float* xg = x + (u.n * p.C + u.g * Cg) * V;
    int64_t ld;
    const float* cols = columns(p, plan, u, xg, scratch.get() + slot * plan.column_floats, threaded, &ld);
    const float* dyg = dy + (u.n * p.K + u.g * Kg) * plan.P + u.r0 * plan.OW;
    float* acc = (plan.parallel ? partials.data() + slot * dw_numel : dw) + u.g * Kg * plan.CRS;
    // dw_g += dy_band * cols^T (beta = 1 accumulates over bands and images)
    gemm(threaded, false, true, Kg, plan.CRS, u.len(plan.OW), dyg, plan.P, cols, ld, 1.f, acc, plan.CRS);
  });
  if (plan.parallel) {
    team_for_each(cnnnative::num_threads(), dw_numel, [&](int64_t i) {
      float s = 0.f;
      for (int t = 0; t < plan.threads; ++t) s += partials[size_t(t * dw_numel + i)];
      dw[i] = s;
    });
  }
}

// The algorithm of this call. "auto" takes the depthwise kernel for depthwise layers and
// the direct kernel (conv3d_direct.h) where the active ISA has one and the layer suits it
// (the stride-1 input gradient runs as a forward, so it is judged as that forward);
// "depthwise" on a non-depthwise layer and unknown names are a ValueError. "direct"
// falls back to vol2col + GEMM where there is no direct kernel for the active ISA or the
// layer, so one algo name works on every ISA.
Algo choose_algo(const Conv3dParams& p, const std::string& algo) {
  CN_CHECK(algo == "auto" || algo == "gemm" || algo == "depthwise" || algo == "direct",
           "algo must be 'auto', 'gemm', 'direct' or 'depthwise', got '", algo, "'");
  CN_CHECK(algo != "depthwise" || p.depthwise(), "algo='depthwise' needs groups == in_channels == "
           "out_channels, got groups=", p.groups, ", in_channels=", p.C, ", out_channels=", p.K);
  if (algo == "depthwise" || (algo == "auto" && p.depthwise())) return Algo::depthwise;
  if (algo == "gemm") return Algo::gemm;
  return Algo::direct;
}

}  // namespace

namespace conv3d {

void bias_gradient(const Conv3dParams& p, const float* dy, float* db) {
  const int64_t P = p.out_volume();
  team_for_each(cnnnative::num_threads(), p.K, [&](int64_t k) {
    double sum = 0.0;
    for (int64_t n = 0; n < p.N; ++n) {
      const float* v = dy + (n * p.K + k) * P;
      float part[16] = {};  // 16 partial sums: vectorised without reassociation
      int64_t i = 0;
      for (; i + 16 <= P; i += 16)
        for (int l = 0; l < 16; ++l) part[l] += v[i + l];
      for (; i < P; ++i) sum += v[i];
      for (int l = 0; l < 16; ++l) sum += part[l];
    }
    db[k] = static_cast<float>(sum);
  });
}

}  // namespace conv3d

void conv3d_forward(const Conv3dParams& p, const float* x, const float* w, const float* bias,
                    float* y, const std::string& algo) {
  p.validate();
  const Algo a = choose_algo(p, algo);
  if (p.N == 0) return;
  if (a == Algo::depthwise)
    conv3d::depthwise_forward(p, x, w, bias, y);
  else if (a == Algo::direct && conv3d::direct_forward_supported(p) &&
           nonfinite::all_finite(w, p.weight_numel(), num_threads()))
    conv3d::direct_forward(p, x, w, bias, y);
  else
    forward_gemm(p, x, w, bias, y);
}

void conv3d_backward_input(const Conv3dParams& p, const float* dy, const float* w, float* dx,
                           const std::string& algo) {
  p.validate();
  const Algo a = choose_algo(p, algo);
  if (p.N == 0) return;
  if (a == Algo::depthwise) {
    if (!backward_input_as_forward(p, dy, w, dx, a)) conv3d::depthwise_backward_input(p, dy, w, dx);
  } else {
    backward_input_gemm(p, dy, w, dx, a);
  }
}

void conv3d_backward_weight(const Conv3dParams& p, const float* x, const float* dy, float* dw,
                            float* db, const std::string& algo) {
  p.validate();
  const Algo a = choose_algo(p, algo);
  const bool depthwise = a == Algo::depthwise;
  if (p.N == 0) {
    std::fill(dw, dw + p.weight_numel(), 0.f);
    if (db) std::fill(db, db + p.K, 0.f);
    return;
  }
  if (depthwise)
    conv3d::depthwise_backward_weight(p, x, dy, dw);
  else if (!(a == Algo::direct && conv3d::direct_weight_supported(p) &&
             conv3d::direct_backward_weight(p, x, dy, dw)))
    backward_weight_gemm(p, x, dy, dw);
  if (db) conv3d::bias_gradient(p, dy, db);
}

}  // namespace cnnnative
