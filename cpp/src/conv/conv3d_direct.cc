// The driver of the direct 3-D convolution (conv3d_direct.h): the W-padded input copy,
// the packed weights, rows split across threads, and each row's position-major result
// transposed into y with the bias.
#include "conv/conv3d_direct.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>

#include "cnnnative/errors.h"
#include "cnnnative/isa.h"
#include "cnnnative/thread_pool.h"
#include "cnnnative/threads.h"
#include "core/int_math.h"

namespace cnnnative {
namespace conv3d {
namespace {

struct FreeDeleter {
  void operator()(float* p) const { std::free(p); }
};
using AlignedFloats = std::unique_ptr<float[], FreeDeleter>;

AlignedFloats aligned_floats(int64_t n) {
  const size_t bytes = static_cast<size_t>(ceil_div(std::max<int64_t>(n, 1) * 4, 64) * 64);
  float* p = static_cast<float*>(std::aligned_alloc(64, bytes));
  if (!p) throw std::bad_alloc();
  return AlignedFloats(p);
}

// [first, last) of the taps k whose input index o * stride + k * dilation - pad lies in
// [0, size).
void valid_taps(int64_t o, int64_t stride, int64_t dilation, int64_t pad, int64_t kernel,
                int64_t size, int64_t* first, int64_t* last) {
  const int64_t base = o * stride - pad;
  int64_t lo = 0;
  if (base < 0) lo = (-base + dilation - 1) / dilation;
  int64_t hi = base >= size ? 0 : (size - 1 - base) / dilation + 1;
  *first = std::min(lo, kernel);
  *last = std::max(*first, std::min(hi, kernel));
}

// A grow-only buffer per calling thread for the W-padded input: a fresh 13 MB buffer per
// call (the C3D layer) cost more in page faults than the copy itself.
class GrowBuffer {
 public:
  float* get(int64_t n) {
    if (n > capacity_) {
      data_.reset();
      data_ = aligned_floats(n);
      capacity_ = n;
    }
    return data_.get();
  }

 private:
  AlignedFloats data_;
  int64_t capacity_ = 0;
};

thread_local GrowBuffer tl_padded;

// The input with the width padding made explicit (rows of W + pads floats, in the calling
// thread's tl_padded), or x itself when there is none; depth and height padding are
// skipped taps.
const float* width_padded(const Conv3dParams& p, const float* x, int threads) {
  const int64_t W = p.in[2], lo = p.pad_lo[2], WP = W + lo + p.pad_hi[2];
  if (WP == W) return x;
  const int64_t rows = p.N * p.C * p.in[0] * p.in[1];
  float* dst = tl_padded.get(checked_mul(rows, WP));
  team_for_each(threads, rows, [&](int64_t i) {
    float* d = dst + i * WP;
    std::fill(d, d + lo, 0.f);
    std::memcpy(d + lo, x + i * W, sizeof(float) * size_t(W));
    std::fill(d + lo + W, d + WP, 0.f);
  });
  return dst;
}

// The sizes both drivers walk, unpacked once from Conv3dParams.
struct Geometry {
  int64_t D, H, W, WP;    // input volume; WP: a W-padded row
  int64_t T, R, S, taps;  // kernel
  int64_t OD, OH, OW, P;  // output volume, P = OD * OH * OW
  int64_t Cg, Kg, G;      // channels per group, groups
  int64_t rows;           // output rows (n, g, od, oh), N * G * OD * OH

  explicit Geometry(const Conv3dParams& p)
      : D(p.in[0]), H(p.in[1]), W(p.in[2]), WP(W + p.pad_lo[2] + p.pad_hi[2]),
        T(p.kernel[0]), R(p.kernel[1]), S(p.kernel[2]), taps(p.taps()),
        OD(p.out(0)), OH(p.out(1)), OW(p.out(2)), P(p.out_volume()),
        Cg(p.Cg()), Kg(p.Kg()), G(p.groups), rows(p.N * G * OD * OH) {}
};

// Output row i of a Geometry: where it is, its valid depth taps [kt0, kt1) and height
// taps [kr0, kr1), and the input plane and row (id0, ih0) of its tap (0, 0), which may lie
// in the padding.
struct RowTaps {
  int64_t n, g, od, oh;
  int64_t kt0, kt1, kr0, kr1;
  int64_t id0, ih0;

  RowTaps(const Conv3dParams& p, const Geometry& m, int64_t i)
      : n(i / (m.OH * m.OD * m.G)), g((i / (m.OH * m.OD)) % m.G), od((i / m.OH) % m.OD), oh(i % m.OH),
        id0(od * p.stride[0] - p.pad_lo[0]), ih0(oh * p.stride[1] - p.pad_lo[1]) {
    valid_taps(od, p.stride[0], p.dilation[0], p.pad_lo[0], m.T, m.D, &kt0, &kt1);
    valid_taps(oh, p.stride[1], p.dilation[1], p.pad_lo[1], m.R, m.H, &kr0, &kr1);
  }
  bool empty() const { return kt0 == kt1 || kr0 == kr1; }
  bool all_taps(const Geometry& m) const { return kt1 - kt0 == m.T && kr1 - kr0 == m.R; }
};

// 1x1x1, stride 1, no padding: vol2col + GEMM multiplies the input itself (no column
// matrix), which the direct kernels do not beat (benchmarks/RESULTS.md, Conv3d on AVX2).
bool pointwise(const Conv3dParams& p) {
  for (int d = 0; d < 3; ++d)
    if (p.kernel[d] != 1 || p.stride[d] != 1 || p.pad_lo[d] != 0 || p.pad_hi[d] != 0) return false;
  return true;
}

}  // namespace

const DirectKernels* direct_kernels() {
  switch (active_isa()) {
    case Isa::avx512: return &direct_kernels_avx512();
    case Isa::avx2: return &direct_kernels_avx2();
    default: return nullptr;
  }
}

bool direct_forward_supported(const Conv3dParams& p) {
  // Below 32 output channels per group a tile is mostly one vector wide and vol2col +
  // GEMM does as well; the depthwise kernel takes groups == C == K. Pointwise layers:
  // the AVX2 forward was 0.43-0.59x of vol2col + GEMM (the AVX-512 one 0.82-1.15x).
  return direct_kernels() && p.Kg() >= 32 && !p.depthwise() &&
         !(active_isa() == Isa::avx2 && pointwise(p));
}

// Pointwise weight gradients: 0.41-0.43x of vol2col + GEMM on AVX2, 0.33-0.58x on AVX-512.
bool direct_weight_supported(const Conv3dParams& p) { return direct_forward_supported(p) && !pointwise(p); }

void direct_forward(const Conv3dParams& p, const float* x, const float* w, const float* bias, float* y) {
  const DirectKernels& kernels = *direct_kernels();
  const Geometry m(p);
  const int64_t Cg = m.Cg, Kg = m.Kg, taps = m.taps, block = kernels.block;
  const int threads = num_threads();
  const float* xw = width_padded(p, x, threads);

  // Weights per group and block of output channels: [c][kt][kr][ks][block], zero past Kg.
  const int64_t blocks = ceil_div(Kg, block);
  const int64_t block_floats = Cg * taps * block;
  AlignedFloats packed = aligned_floats(checked_mul(m.G * blocks, block_floats));
  {
    float* wp = packed.get();
    team_for_each(threads, m.G * blocks, [&](int64_t gb) {
      const int64_t g = gb / blocks, k0 = (gb % blocks) * block;
      float* dst = wp + gb * block_floats;
      for (int64_t ct = 0; ct < Cg * taps; ++ct)
        for (int64_t l = 0; l < block; ++l) {
          const int64_t k = k0 + l;
          dst[ct * block + l] = k < Kg ? w[(g * Kg + k) * Cg * taps + ct] : 0.f;
        }
    });
  }

  const int64_t ldo = blocks * block;
  const int64_t x_channel = m.D * m.H * m.WP;
  const int last_vectors = 2 * (Kg - (blocks - 1) * block) > block ? 2 : 1;
  // Rows are independent, so they are handed out in chunks as threads come free (on a
  // busy machine a descheduled thread then delays the call by one chunk, not by its
  // static share); consecutive rows of a chunk share most input rows in L2.
  const int64_t chunk = std::max<int64_t>(1, m.rows / (int64_t(threads) * 64));
  // Each thread's row result; allocated here, as nothing may throw inside the team.
  AlignedFloats outs = aligned_floats(checked_mul(threads, m.OW * ldo));
  DynamicChunks row_chunks(m.rows, chunk);
  run_team(threads, [&](int tid, int) {
    float* const out = outs.get() + tid * m.OW * ldo;
    int64_t i_begin, i_end;
    while (row_chunks.next(&i_begin, &i_end)) {
      for (int64_t i = i_begin; i < i_end; ++i) {
        const RowTaps rt(p, m, i);
        DirectRow r;
        r.Cg = Cg;
        r.nt = rt.kt1 - rt.kt0;
        r.nr = rt.kr1 - rt.kr0;
        r.S = m.S;
        r.xc = x_channel;
        r.xt = p.dilation[0] * m.H * m.WP;
        r.xr = p.dilation[1] * m.WP;
        r.xs = p.dilation[2];
        r.sw = p.stride[2];
        const float* xg = xw + (rt.n * p.C + rt.g * Cg) * x_channel;
        if (!rt.empty()) {
          const int64_t id = rt.id0 + rt.kt0 * p.dilation[0], ih = rt.ih0 + rt.kr0 * p.dilation[1];
          xg += (id * m.H + ih) * m.WP;
        }
        r.x = xg;
        r.wc = taps * block;
        r.wt = m.R * m.S * block;
        r.wr = m.S * block;
        r.w = packed.get() + rt.g * blocks * block_floats + (rt.kt0 * m.R + rt.kr0) * m.S * block;
        r.block_floats = block_floats;
        r.blocks = blocks;
        r.last_vectors = last_vectors;
        r.OW = m.OW;
        r.out = out;
        kernels.forward_row(r);
        // Position-major out -> the row of each output channel, plus the bias.
        kernels.transpose(out, ldo, m.OW, Kg, bias ? bias + rt.g * Kg : nullptr,
                          y + (rt.n * p.K + rt.g * Kg) * m.P + (rt.od * m.OH + rt.oh) * m.OW, m.P);
      }
    }
  });
}

bool direct_backward_weight(const Conv3dParams& p, const float* x, const float* dy, float* dw) {
  const DirectKernels& kernels = *direct_kernels();
  const Geometry m(p);
  const int64_t Cg = m.Cg, Kg = m.Kg, OW = m.OW, P = m.P;
  const int threads = num_threads();
  const float* xw = width_padded(p, x, threads);

  // Per thread: the sums acc[g][c][kt][kr][ks][k] (k padded to ldk), over its rows.
  const int64_t ldk = ceil_div(Kg, 16) * 16;
  const int64_t acc_floats = checked_mul(m.G * Cg * m.taps, ldk);
  const int team = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(threads, m.rows)));
  AlignedFloats sums = aligned_floats(checked_mul(acc_floats, team));
  AlignedFloats dyts = aligned_floats(checked_mul(team, OW * ldk));  // each thread's dy row
  // Zeroed here: a team smaller than asked for leaves some sums untouched, yet all are added.
  std::fill(sums.get(), sums.get() + acc_floats * team, 0.f);
  std::atomic<bool> nonfinite_border{false};
  run_team_no_backoff(team, [&](int t, int nt) {
    float* acc = sums.get() + t * acc_floats;
    float* const dyt = dyts.get() + t * OW * ldk;
    std::fill(dyt, dyt + OW * ldk, 0.f);
    const int64_t r0 = m.rows * t / nt, r1 = m.rows * (t + 1) / nt;
    for (int64_t i = r0; i < r1; ++i) {
      const RowTaps rt(p, m, i);
      const float* dyrow = dy + (rt.n * p.K + rt.g * Kg) * P + (rt.od * m.OH + rt.oh) * OW;
      // Taps skipped in the depth/height padding multiply dy by 0 by definition (vol2col
      // + GEMM does): a non-finite dy there would make those sums NaN. Rare: the caller
      // then recomputes with vol2col + GEMM.
      if (!rt.all_taps(m)) {
        bool finite = true;
        for (int64_t k = 0; k < Kg; ++k)
          for (int64_t ow = 0; ow < OW; ++ow) finite &= std::isfinite(dyrow[k * P + ow]);
        if (!finite) nonfinite_border.store(true, std::memory_order_relaxed);
      }
      if (rt.empty()) continue;
      // This row of dy, position-major (columns Kg .. ldk stay 0).
      kernels.transpose(dyrow, P, Kg, OW, nullptr, dyt, ldk);
      WeightRow r;
      r.sw = p.stride[2];
      r.xs = p.dilation[2];
      r.S = m.S;
      r.dy = dyt;
      r.OW = OW;
      r.ldk = ldk;
      r.nr = rt.kr1 - rt.kr0;
      r.xr = p.dilation[1] * m.WP;
      r.accr = m.S * ldk;
      const int64_t ih = rt.ih0 + rt.kr0 * p.dilation[1];
      for (int64_t c = 0; c < Cg; ++c) {
        const float* xc = xw + (rt.n * p.C + rt.g * Cg + c) * m.D * m.H * m.WP;
        for (int64_t kt = rt.kt0; kt < rt.kt1; ++kt) {
          const int64_t id = rt.id0 + kt * p.dilation[0];
          r.x = xc + (id * m.H + ih) * m.WP;
          r.acc = acc + (((rt.g * Cg + c) * m.T + kt) * m.R + rt.kr0) * m.S * ldk;
          kernels.weight_row(r);
        }
      }
    }
  });
  if (nonfinite_border.load()) return false;
  // dw[g, k, c, tap] = the threads' sums, in thread order.
  float* const first = sums.get();
  const int64_t ct_per_group = Cg * m.taps;
  team_for_each(threads, m.G * ct_per_group, [&](int64_t gct) {
    const int64_t g = gct / ct_per_group, ct = gct % ct_per_group;
    for (int64_t k = 0; k < Kg; ++k) {
      float s = first[gct * ldk + k];
      for (int t = 1; t < team; ++t) s += first[t * acc_floats + gct * ldk + k];
      dw[(g * Kg + k) * ct_per_group + ct] = s;
    }
  });
  return true;
}

}  // namespace conv3d
}  // namespace cnnnative
