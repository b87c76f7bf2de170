// The ISA-neutral part of the channel-blocked pooling (pool/pool_cblock.h): which windows it
// takes, the average divisors, and the threaded driver (conv/depthwise_cblock.h's items).
#include "pool/pool_cblock.h"

#include <algorithm>
#include <atomic>
#include <vector>

#include "cnnnative/isa.h"
#include "conv/depthwise_cblock.h"
#include "pool/window_ranges.h"

namespace cnnnative {

// divisors: null for max pooling; else one per output pixel of the plane (OH x OW).
void pool_cblock_band__avx512(const ConvParams& p, const float* divisors, const float* x_img, int64_t c0, int nc,
                              int64_t oh0, int64_t oh1, float* y_img, float* scratch);

namespace {

std::atomic<int> forced_mode{0};

// The window as the channel-blocked kernels describe a convolution over `planes` channels:
// bottom/right padding is what the last window needs (ceil mode) and never negative.
ConvParams as_params(int64_t planes, int64_t H, int64_t W, int64_t OH, int64_t OW, int64_t kh, int64_t kw, int64_t sh,
                     int64_t sw, int64_t pad_top, int64_t pad_left) {
  ConvParams p;
  p.N = 1, p.C = planes, p.K = planes, p.groups = planes;
  p.H = H, p.W = W, p.R = kh, p.S = kw;
  p.stride_h = sh, p.stride_w = sw;
  p.pad_top = pad_top, p.pad_left = pad_left;
  p.pad_bottom = std::max<int64_t>(0, (OH - 1) * sh + kh - H - pad_top);
  p.pad_right = std::max<int64_t>(0, (OW - 1) * sw + kw - W - pad_left);
  return p;
}

bool window_ok(int64_t kh, int64_t kw, int64_t sh, int64_t sw) {
  return sh == sw && (sw == 1 || sw == 2) && (kw == 2 || kw == 3) && kh >= 1 && kh <= 7;
}

void run(const ConvParams& p, const float* divisors, const float* x, float* y, int threads) {
  // Below about this many input elements per thread, waking a team costs more than it saves.
  constexpr int64_t kGrainElements = 16384;
  const int64_t useful = std::max<int64_t>(1, p.C * p.H * p.W / kGrainElements);
  threads = static_cast<int>(std::min<int64_t>(threads, useful));
  depthwise::for_each_channel_block(
      1, p.C, p.output_h(), depthwise::cblock_band_rows(p), threads,
      [&](int64_t band) { return depthwise::cblock_scratch_floats(p, band); },
      [&](float* scratch, int64_t, int64_t c0, int nc, int64_t oh0, int64_t oh1) {
        pool_cblock_band__avx512(p, divisors, x, c0, nc, oh0, oh1, y, scratch);
      });
}

}  // namespace

void force_pool_cblock(int mode) { forced_mode.store(mode); }

bool pool_layout_forced() { return forced_mode.load(std::memory_order_relaxed) != 0; }

bool max_pool_cblock_applies(const MaxPoolWindow& w) {
  if (active_isa() != Isa::avx512 || !max_separable_applies(w)) return false;
  if (!window_ok(w.kernel_h, w.kernel_w, w.stride_h, w.stride_w)) return false;
  const int mode = forced_mode.load(std::memory_order_relaxed);
  if (mode != 0) return mode == 2;
  // Measured on one thread (CPU time, AMD Zen 4; `python benchmarks/bench_channel_blocks.py`):
  // 1.2-6.1x faster than the separable kernel on the zoo's pools from 112x112 planes down
  // (4.2x on SqueezeNet's 27x27, 6.1x on GoogLeNet's 14x14 2x2); Inception-v3's 147x147 was
  // 0.94-1.15x across runs, so wide planes stay with the separable kernel. (Unpadded
  // stride-2 windows from 16 columns wide take the separable kernel's whole-plane AVX-512
  // path before this rule is asked: max_pool2d_separable.)
  return w.W < 128;
}

bool avg_pool_cblock_applies(const PoolParams& p) {
  if (active_isa() != Isa::avx512 || p.dilation_h != 1 || p.dilation_w != 1) return false;
  if (!window_ok(p.kernel_h, p.kernel_w, p.stride_h, p.stride_w)) return false;
  if (p.pad_h >= p.kernel_h || p.pad_w >= p.kernel_w || p.OH < 1 || p.OW < 1) return false;
  const int mode = forced_mode.load(std::memory_order_relaxed);
  if (mode != 0) return mode == 2;
  // Measured as above: 4-11x the per-plane kernel on Inception's 3x3 stride-1 branch pools
  // (35x35, 17x17, 8x8; these now take pool/avg_pool_same3.h before this rule is asked,
  // 2-3x faster again in the network) and strided 3x3; but DenseNet's 2x2 stride-2 windows without
  // padding have their own one-pass loop there (3x faster than this), and planes from 128
  // wide keep the per-plane kernel as for max pooling.
  const bool plain_2x2 = p.kernel_h == 2 && p.kernel_w == 2 && p.stride_h == 2 && p.pad_h == 0 && p.pad_w == 0 &&
                         2 * p.OH <= p.H && 2 * p.OW <= p.W;
  return !plain_2x2 && p.W < 128;
}

void max_pool_cblock(const MaxPoolWindow& w, const float* x, float* y, int64_t planes, int threads) {
  run(as_params(planes, w.H, w.W, w.OH, w.OW, w.kernel_h, w.kernel_w, w.stride_h, w.stride_w, w.pad_top, w.pad_left),
      nullptr, x, y, threads);
}

void avg_pool_cblock(const PoolParams& p, const float* x, float* y, int threads) {
  // PyTorch's divisor of every output pixel (as pool_body.inl computes it), shared by all planes.
  std::vector<float> divisors(static_cast<size_t>(p.OH * p.OW));
  for (int64_t oh = 0; oh < p.OH; ++oh) {
    const Window wh = avg_window(oh, p.stride_h, p.pad_h, p.kernel_h, p.H);
    for (int64_t ow = 0; ow < p.OW; ++ow) {
      const Window ww = avg_window(ow, p.stride_w, p.pad_w, p.kernel_w, p.W);
      const bool empty = wh.lo >= wh.hi || ww.lo >= ww.hi;
      divisors[size_t(oh * p.OW + ow)] =
          empty ? 0.f : p.count_include_pad ? divisor(wh.padded, ww.padded) : divisor(wh.hi - wh.lo, ww.hi - ww.lo);
    }
  }
  run(as_params(p.N * p.C, p.H, p.W, p.OH, p.OW, p.kernel_h, p.kernel_w, p.stride_h, p.stride_w, p.pad_h, p.pad_w),
      divisors.data(), x, y, threads);
}

}  // namespace cnnnative
