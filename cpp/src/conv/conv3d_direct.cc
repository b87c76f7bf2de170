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

}  // namespace

const DirectKernels* direct_kernels() {
  return active_isa() == Isa::avx512 ? &direct_kernels_avx512() : nullptr;
}

bool direct_forward_supported(const Conv3dParams& p) {
  // Below 32 output channels per group a tile is mostly one vector wide and vol2col +
  // GEMM does as well; the depthwise kernel takes groups == C == K.
  return direct_kernels() && p.Kg() >= 32 && !p.depthwise();
}

bool direct_weight_supported(const Conv3dParams& p) { return direct_forward_supported(p); }

void direct_forward(const Conv3dParams& p, const float* x, const float* w, const float* bias, float* y) {
  const DirectRowKernel kernel = direct_kernels()->forward_row;
  const TransposeKernel transpose = direct_kernels()->transpose;
  const int64_t D = p.in[0], H = p.in[1], W = p.in[2];
  const int64_t T = p.kernel[0], R = p.kernel[1], S = p.kernel[2], taps = p.taps();
  const int64_t OD = p.out(0), OH = p.out(1), OW = p.out(2), P = p.out_volume();
  const int64_t Cg = p.Cg(), Kg = p.Kg(), G = p.groups;
  const int threads = num_threads();

  const int64_t WP = W + p.pad_lo[2] + p.pad_hi[2];
  const float* xw = width_padded(p, x, threads);

  // Weights per group and block of 32 output channels: [c][kt][kr][ks][32], zero past Kg.
  const int64_t blocks = ceil_div(Kg, kDirectBlock);
  const int64_t block_floats = Cg * taps * kDirectBlock;
  AlignedFloats packed = aligned_floats(checked_mul(G * blocks, block_floats));
  {
    float* wp = packed.get();
    team_for_each(threads, G * blocks, [&](int64_t gb) {
      const int64_t g = gb / blocks, k0 = (gb % blocks) * kDirectBlock;
      float* dst = wp + gb * block_floats;
      for (int64_t ct = 0; ct < Cg * taps; ++ct)
        for (int64_t l = 0; l < kDirectBlock; ++l) {
          const int64_t k = k0 + l;
          dst[ct * kDirectBlock + l] = k < Kg ? w[(g * Kg + k) * Cg * taps + ct] : 0.f;
        }
    });
  }

  const int64_t ldo = blocks * kDirectBlock;
  const int64_t rows = p.N * G * OD * OH;
  const int64_t x_channel = D * H * WP;
  const int last_vectors = Kg - (blocks - 1) * kDirectBlock > 16 ? 2 : 1;
  // Rows are independent, so they are handed out in chunks as threads come free (on a
  // busy machine a descheduled thread then delays the call by one chunk, not by its
  // static share); consecutive rows of a chunk share most input rows in L2.
  const int64_t chunk = std::max<int64_t>(1, rows / (int64_t(threads) * 64));
  // Each thread's row result; allocated here, as nothing may throw inside the team.
  AlignedFloats outs = aligned_floats(checked_mul(threads, OW * ldo));
  DynamicChunks row_chunks(rows, chunk);
  run_team(threads, [&](int tid, int) {
    float* const out = outs.get() + tid * OW * ldo;
    int64_t i_begin, i_end;
    while (row_chunks.next(&i_begin, &i_end)) {
      for (int64_t i = i_begin; i < i_end; ++i) {
        const int64_t oh = i % OH, od = (i / OH) % OD, g = (i / (OH * OD)) % G, n = i / (OH * OD * G);
        int64_t kt0, kt1, kr0, kr1;
        valid_taps(od, p.stride[0], p.dilation[0], p.pad_lo[0], T, D, &kt0, &kt1);
        valid_taps(oh, p.stride[1], p.dilation[1], p.pad_lo[1], R, H, &kr0, &kr1);
        DirectRow r;
        r.Cg = Cg;
        r.nt = kt1 - kt0;
        r.nr = kr1 - kr0;
        r.S = S;
        r.xc = x_channel;
        r.xt = p.dilation[0] * H * WP;
        r.xr = p.dilation[1] * WP;
        r.xs = p.dilation[2];
        r.sw = p.stride[2];
        const float* xg = xw + (n * p.C + g * Cg) * x_channel;
        if (r.nt > 0 && r.nr > 0) {
          const int64_t id = od * p.stride[0] - p.pad_lo[0] + kt0 * p.dilation[0];
          const int64_t ih = oh * p.stride[1] - p.pad_lo[1] + kr0 * p.dilation[1];
          xg += (id * H + ih) * WP;
        }
        r.x = xg;
        r.wc = taps * kDirectBlock;
        r.wt = R * S * kDirectBlock;
        r.wr = S * kDirectBlock;
        r.w = packed.get() + g * blocks * block_floats + (kt0 * R + kr0) * S * kDirectBlock;
        r.block_floats = block_floats;
        r.blocks = blocks;
        r.last_vectors = last_vectors;
        r.OW = OW;
        r.out = out;
        kernel(r);
        // Position-major out -> the row of each output channel, plus the bias.
        transpose(out, ldo, OW, Kg, bias ? bias + g * Kg : nullptr,
                  y + (n * p.K + g * Kg) * P + (od * OH + oh) * OW, P);
      }
    }
  });
}

bool direct_backward_weight(const Conv3dParams& p, const float* x, const float* dy, float* dw) {
  const WeightRowKernel kernel = direct_kernels()->weight_row;
  const TransposeKernel transpose = direct_kernels()->transpose;
  const int64_t D = p.in[0], H = p.in[1], W = p.in[2];
  const int64_t T = p.kernel[0], R = p.kernel[1], S = p.kernel[2], taps = p.taps();
  const int64_t OD = p.out(0), OH = p.out(1), OW = p.out(2), P = p.out_volume();
  const int64_t Cg = p.Cg(), Kg = p.Kg(), G = p.groups;
  const int threads = num_threads();
  const int64_t WP = W + p.pad_lo[2] + p.pad_hi[2];
  const float* xw = width_padded(p, x, threads);

  // Per thread: the sums acc[g][c][kt][kr][ks][k] (k padded to ldk), over its rows.
  const int64_t ldk = ceil_div(Kg, 16) * 16;
  const int64_t acc_floats = checked_mul(G * Cg * taps, ldk);
  const int64_t rows = p.N * G * OD * OH;
  const int team = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(threads, rows)));
  AlignedFloats sums = aligned_floats(checked_mul(acc_floats, team));
  AlignedFloats dyts = aligned_floats(checked_mul(team, OW * ldk));  // each thread's dy row
  // Zeroed here: a team smaller than asked for leaves some sums untouched, yet all are added.
  std::fill(sums.get(), sums.get() + acc_floats * team, 0.f);
  std::atomic<bool> nonfinite_border{false};
  run_team(team, [&](int t, int nt) {
    float* acc = sums.get() + t * acc_floats;
    float* const dyt = dyts.get() + t * OW * ldk;
    std::fill(dyt, dyt + OW * ldk, 0.f);
    const int64_t r0 = rows * t / nt, r1 = rows * (t + 1) / nt;
    for (int64_t i = r0; i < r1; ++i) {
      const int64_t oh = i % OH, od = (i / OH) % OD, g = (i / (OH * OD)) % G, n = i / (OH * OD * G);
      int64_t kt0, kt1, kr0, kr1;
      valid_taps(od, p.stride[0], p.dilation[0], p.pad_lo[0], T, D, &kt0, &kt1);
      valid_taps(oh, p.stride[1], p.dilation[1], p.pad_lo[1], R, H, &kr0, &kr1);
      const float* dyrow = dy + (n * p.K + g * Kg) * P + (od * OH + oh) * OW;
      // Taps skipped in the depth/height padding multiply dy by 0 by definition (vol2col
      // + GEMM does): a non-finite dy there would make those sums NaN. Rare: the caller
      // then recomputes with vol2col + GEMM.
      if (kt1 - kt0 < T || kr1 - kr0 < R) {
        bool finite = true;
        for (int64_t k = 0; k < Kg; ++k)
          for (int64_t ow = 0; ow < OW; ++ow) finite &= std::isfinite(dyrow[k * P + ow]);
        if (!finite) nonfinite_border.store(true, std::memory_order_relaxed);
      }
      if (kt0 == kt1 || kr0 == kr1) continue;
      // This row of dy, position-major (columns Kg .. ldk stay 0).
      transpose(dyrow, P, Kg, OW, nullptr, dyt, ldk);
      WeightRow r;
      r.sw = p.stride[2];
      r.xs = p.dilation[2];
      r.S = S;
      r.dy = dyt;
      r.OW = OW;
      r.ldk = ldk;
      r.nr = kr1 - kr0;
      r.xr = p.dilation[1] * WP;
      r.accr = S * ldk;
      const int64_t id0 = od * p.stride[0] - p.pad_lo[0], ih0 = oh * p.stride[1] - p.pad_lo[1];
      for (int64_t c = 0; c < Cg; ++c) {
        const float* xc = xw + (n * p.C + g * Cg + c) * D * H * WP;
        for (int64_t kt = kt0; kt < kt1; ++kt) {
          const int64_t id = id0 + kt * p.dilation[0], ih = ih0 + kr0 * p.dilation[1];
          r.x = xc + (id * H + ih) * WP;
          r.acc = acc + (((g * Cg + c) * T + kt) * R + kr0) * S * ldk;
          kernel(r);
        }
      }
    }
  });
  if (nonfinite_border.load()) return false;
  // dw[g, k, c, tap] = the threads' sums, in thread order.
  float* const first = sums.get();
  team_for_each(threads, G * Cg * taps, [&](int64_t gct) {
    const int64_t g = gct / (Cg * taps), ct = gct % (Cg * taps);
    for (int64_t k = 0; k < Kg; ++k) {
      float s = first[gct * ldk + k];
      for (int t = 1; t < team; ++t) s += first[t * acc_floats + gct * ldk + k];
      dw[(g * Kg + k) * Cg * taps + ct] = s;
    }
  });
  return true;
}

}  // namespace conv3d
}  // namespace cnnnative
