// Threaded driver of the separable max pooling (see pool/max_pool_separable.h): whole
// planes per thread, each with its own buffer of reduced rows.
#include <cstdint>
#include <vector>

#include "act/isa_table.h"
#include "cnnnative/thread_pool.h"
#include "pool/pool_cblock.h"
#include "pool/max_pool_separable.h"

namespace cnnnative {

bool max_separable_applies(const MaxPoolWindow& w) {
  // Every window must hold an input element: padding smaller than the kernel and the last
  // window starting inside the input (PyTorch's rules guarantee both; ONNX pads may not).
  int64_t last_h, last_w;
  if (__builtin_mul_overflow(w.OH - 1, w.stride_h, &last_h) || __builtin_mul_overflow(w.OW - 1, w.stride_w, &last_w))
    return false;
  return w.H >= 1 && w.W >= 1 && w.OH >= 1 && w.OW >= 1 && w.pad_top >= 0 && w.pad_left >= 0 &&
         w.pad_top < w.kernel_h && w.pad_left < w.kernel_w && last_h - w.pad_top < w.H && last_w - w.pad_left < w.W;
}

bool max_unpadded_applies(const MaxPoolWindow& w) {
  return max_separable_applies(w) && w.stride_w == 2 && (w.kernel_w == 2 || w.kernel_w == 3) && w.pad_top == 0 &&
         w.pad_left == 0 && (w.OW - 1) * 2 + w.kernel_w <= w.W && (w.OH - 1) * w.stride_h + w.kernel_h <= w.H;
}

void max_pool2d_separable(const MaxPoolWindow& w, const float* x, float* y, int64_t planes, int threads) {
  const MaxPoolSeparableKernels& k =
      table_for_active_isa(max_pool_separable_scalar, max_pool_separable_avx2, max_pool_separable_avx512);
  // Measured on one thread, Zen 4: in Inception-v3 (benchmarks/bench_pool_nodes.py) 79 vs
  // 187 us on 768x17x17 and 95 vs 160 on 288x35x35 against the channel lanes, whose
  // transposes pay for inputs that come from L3 (alone, with the input hot, the lanes win
  // the 17-wide one, 61 vs 79); alone (/tmp probes, CPU time) 1.2-1.6x faster than both
  // other kernels on the zoo's 2x2 / 2 and 3x3 / 2 pools from 28 to 224 wide, but slower
  // than the lanes below 16 columns (VGG's 512x14x14: 34 vs 29 us), which keep those.
  const bool unpadded = k.planes_unpadded && max_unpadded_applies(w) && w.W >= 16 && !pool_layout_forced();
  if (!unpadded && max_pool_cblock_applies(w)) {  // 16 planes per vector where measured faster
    max_pool_cblock(w, x, y, planes, threads);
    return;
  }
  const int64_t hw = w.H * w.W, ohw = w.OH * w.OW;
  // Below about this many input elements per thread, waking a team costs more than it saves.
  constexpr int64_t kGrainElements = 16384;
  int64_t teams = planes * hw / kGrainElements;
  if (teams > threads) teams = threads;
  if (teams > planes) teams = planes;
  if (teams < 1) teams = 1;
  run_team(static_cast<int>(teams), [&](int tid, int team) {
    thread_local std::vector<float> reduced;  // H rows of OW maxima; grows once, then reused
    const int64_t need = (unpadded ? 2 : 1) * w.H * w.OW;
    if (static_cast<int64_t>(reduced.size()) < need) reduced.resize(static_cast<size_t>(need));
    const auto [first, end] = team_share(planes, tid, team);
    if (unpadded) {
      k.planes_unpadded(w, x + first * hw, y + first * ohw, end - first, reduced.data());
      return;
    }
    for (int64_t plane = first; plane < end; ++plane) {
      const float* xp = x + plane * hw;
      float* yp = y + plane * ohw;
      for (int64_t ih = 0; ih < w.H; ++ih) k.reduce_row(w, xp + ih * w.W, reduced.data() + ih * w.OW);
      for (int64_t oh = 0; oh < w.OH; ++oh) k.combine_rows(w, reduced.data(), oh, yp + oh * w.OW);
    }
  });
}

}  // namespace cnnnative
