// The ISA-neutral part of the channel-blocked max pooling (pool/max_pool_cblock.h): which
// windows it takes, and the threaded driver (conv/depthwise_cblock.h's items).
#include "pool/max_pool_cblock.h"

#include <algorithm>
#include <atomic>

#include "cnnnative/isa.h"
#include "conv/depthwise_cblock.h"

namespace cnnnative {

void max_pool_cblock_band__avx512(const ConvParams& p, const float* x_img, int64_t c0, int nc, int64_t oh0,
                                  int64_t oh1, float* y_img, float* scratch);

namespace {

std::atomic<int> forced_mode{0};

// The window as the channel-blocked kernels describe a convolution: bottom/right padding
// is what the last window needs (ceil mode) and never negative.
ConvParams as_params(const MaxPoolWindow& w, int64_t planes) {
  ConvParams p;
  p.N = 1, p.C = planes, p.K = planes, p.groups = planes;
  p.H = w.H, p.W = w.W, p.R = w.kernel_h, p.S = w.kernel_w;
  p.stride_h = w.stride_h, p.stride_w = w.stride_w;
  p.pad_top = w.pad_top, p.pad_left = w.pad_left;
  p.pad_bottom = std::max<int64_t>(0, (w.OH - 1) * w.stride_h + w.kernel_h - w.H - w.pad_top);
  p.pad_right = std::max<int64_t>(0, (w.OW - 1) * w.stride_w + w.kernel_w - w.W - w.pad_left);
  return p;
}

}  // namespace

bool max_pool_cblock_applies(const MaxPoolWindow& w) {
  if (active_isa() != Isa::avx512 || !max_separable_applies(w)) return false;
  if (w.stride_h != w.stride_w || (w.stride_w != 1 && w.stride_w != 2)) return false;
  if ((w.kernel_w != 2 && w.kernel_w != 3) || w.kernel_h < 1 || w.kernel_h > 7) return false;
  const int mode = forced_mode.load(std::memory_order_relaxed);
  if (mode != 0) return mode == 2;
  // Measured on one thread (CPU time, AMD Zen 4; `python benchmarks/bench_channel_blocks.py`):
  // 1.1-6.5x faster than the separable kernel on the zoo's pools from 111x111 planes down
  // (4.3x on SqueezeNet's 27x27, 6.5x on GoogLeNet's 14x14 2x2), 0.94x on Inception-v3's
  // 147x147, where the separable kernel's whole-row vectors are at their best.
  return w.W < 128;
}

void force_max_pool_cblock(int mode) { forced_mode.store(mode); }

void max_pool_cblock(const MaxPoolWindow& w, const float* x, float* y, int64_t planes, int threads) {
  const ConvParams p = as_params(w, planes);
  // Below about this many input elements per thread, waking a team costs more than it saves.
  constexpr int64_t kGrainElements = 16384;
  const int64_t useful = std::max<int64_t>(1, planes * w.H * w.W / kGrainElements);
  threads = static_cast<int>(std::min<int64_t>(threads, useful));
  depthwise::for_each_channel_block(
      1, planes, w.OH, depthwise::cblock_band_rows(p), threads,
      [&](int64_t band) { return depthwise::cblock_scratch_floats(p, band); },
      [&](float* scratch, int64_t, int64_t c0, int nc, int64_t oh0, int64_t oh1) {
        max_pool_cblock_band__avx512(p, x, c0, nc, oh0, oh1, y, scratch);
      });
}

}  // namespace cnnnative
