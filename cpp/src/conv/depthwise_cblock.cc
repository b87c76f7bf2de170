// The ISA-neutral part of the channel-blocked depthwise kernel (depthwise_cblock.h): which
// shapes it takes and how much scratch a band needs.
#include "conv/depthwise_cblock.h"

#include <algorithm>
#include <atomic>

#include <vector>

#include "cnnnative/isa.h"
#include "cnnnative/thread_pool.h"
#include "conv/autotune.h"  // ScratchBuffer

namespace cnnnative {
namespace depthwise {

bool cblock_geometry_ok(const ConvParams& p) {
  return p.dilation_h == 1 && p.dilation_w == 1 && p.stride_h == p.stride_w && (p.stride_w == 1 || p.stride_w == 2) &&
         (p.S == 3 || p.S == 5 || p.S == 7) && p.R >= 1 && p.R <= 7 && p.output_h() >= 1 && p.output_w() >= 1;
}

namespace {
int64_t padded_width(const ConvParams& p) { return p.W + p.pad_left + p.pad_right; }
int64_t input_rows(const ConvParams& p, int64_t band) { return (band - 1) * p.stride_h + p.R; }
}  // namespace

int64_t cblock_band_rows(const ConvParams& p) {
  // About 128 KB of padded input per band: it and the band's output stay in L2 while the
  // taps run, and a band's first rows are still in L1 when its last rows are transposed in.
  constexpr int64_t kBandFloats = 32768;
  const int64_t rows_that_fit = kBandFloats / (padded_width(p) * kCBlockLanes);
  const int64_t band = (rows_that_fit - p.R) / p.stride_h + 1;
  return std::max<int64_t>(1, std::min(band, p.output_h()));
}

int64_t cblock_scratch_floats(const ConvParams& p, int64_t band_rows) {
  const int64_t in = input_rows(p, band_rows) * padded_width(p) * kCBlockLanes;
  const int64_t out = band_rows * p.output_w() * kCBlockLanes;
  const int64_t taps = p.R * p.S * kCBlockLanes;
  // + 16 vectors of slack: the last transpose chunk of the output reads up to 15 pixel
  // vectors past the band (never stored).
  return in + out + taps + 16 * kCBlockLanes;
}

namespace {
std::atomic<int> forced_layout{static_cast<int>(DepthwiseLayout::automatic)};

// Measured on one thread (CPU time, AMD Zen 4: `python benchmarks/bench_channel_blocks.py`),
// channels in the lanes against the per-plane kernels: 2.2-4.5x faster on every 5x5 layer
// of MobileNet-v3 / EfficientNet / MnasNet (7x7 to 56x56 planes), 1.0-2.1x at stride 2 with
// 3x3, 1.2-2.1x for 3x3 on 7x7 and 14x14 planes; slower for 3x3 stride 1 on planes 28
// pixels wide or more (0.97x at 28, 0.74-0.87x at 56 and 112), where the per-plane kernels'
// row blocks fill the lanes and need no transposes.
bool prefer_channel_blocks(const ConvParams& p) {
  return !(p.R == 3 && p.S == 3 && p.stride_w == 1 && p.output_w() >= 20);
}
}  // namespace

void for_each_channel_block(int64_t batch, int64_t C, int64_t OH, int64_t band, int threads,
                            const std::function<int64_t(int64_t band)>& scratch_floats, const CBlockItem& item) {
  const int64_t blocks = (C + kCBlockLanes - 1) / kCBlockLanes;
  if (threads > 1 && batch * blocks * ((OH + band - 1) / band) < 2 * threads)
    band = std::max<int64_t>(1, OH * batch * blocks / (2 * threads));
  const int64_t bands = (OH + band - 1) / band, items = batch * blocks * bands;
  if (items <= 0) return;
  const int64_t share = (scratch_floats(band) + 15) / 16 * 16;  // 64-byte aligned shares
  threads = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(threads, items)));
  ScratchBuffer scratch(static_cast<size_t>(threads * share));
  run_team(threads, [&](int tid, int team) {
    float* mine = scratch.data() + tid * share;
    const auto [first, end] = team_share(items, tid, team);
    for (int64_t i = first; i < end; ++i) {
      const int64_t image = i / (blocks * bands), c0 = i / bands % blocks * kCBlockLanes, oh0 = i % bands * band;
      item(mine, image, c0, static_cast<int>(std::min<int64_t>(kCBlockLanes, C - c0)), oh0, std::min(OH, oh0 + band));
    }
  });
}

void channel_blocks_forward(const ConvParams& p, int64_t batch, const float* x, const float* w, const float* bias,
                            const float* residual, float* y, int act, int threads, const CBlockAfter& after) {
  const int64_t P = p.output_h() * p.output_w(), HW = p.H * p.W;
  std::vector<float> zeros;
  if (!bias) {
    zeros.assign(static_cast<size_t>(p.C), 0.f);
    bias = zeros.data();
  }
  for_each_channel_block(
      batch, p.C, p.output_h(), cblock_band_rows(p), threads, [&](int64_t band) { return cblock_scratch_floats(p, band); },
      [&](float* scratch, int64_t image, int64_t c0, int nc, int64_t oh0, int64_t oh1) {
        float* y_img = y + image * p.C * P;
        cblock_forward__avx512(p, x + image * p.C * HW, w, bias, c0, nc, oh0, oh1,
                               residual ? residual + image * p.C * P : nullptr, y_img, act, scratch);
        if (after) after(y_img, c0, nc, oh0, oh1);
      });
}

void force_depthwise_layout(DepthwiseLayout layout) { forced_layout.store(static_cast<int>(layout)); }

bool use_channel_blocks(const ConvParams& p) {
  if (active_isa() != Isa::avx512 || p.K != p.C || p.groups != p.C || !cblock_geometry_ok(p)) return false;
  switch (static_cast<DepthwiseLayout>(forced_layout.load(std::memory_order_relaxed))) {
    case DepthwiseLayout::planes: return false;
    case DepthwiseLayout::channels: return true;
    default: return prefer_channel_blocks(p);
  }
}

}  // namespace depthwise
}  // namespace cnnnative
