// Mean and variance of a strided set of contiguous spans (see kernels.h).
#pragma once
#include <cstdint>

#include "norm/kernels.h"
#include "norm/merge.h"

namespace cnnnative {
namespace norm {

struct MeanVar {
  double mean = 0.0;
  double var = 0.0;  // biased (divided by the count)
};

// Sets up to this many floats (256 KiB) are read twice (mean, then deviations): the
// second read comes from cache and short spans pay no per-block bookkeeping. Larger
// sets go block by block through mean_m2, reading memory once.
constexpr int64_t kTwoPassMaxCount = 1 << 16;

// Statistics of `spans` runs of `len` floats starting `stride` floats apart.
inline MeanVar span_stats(const Kernels& k, const float* x, int64_t spans, int64_t stride,
                          int64_t len) {
  const int64_t count = spans * len;
  if (count == 0) return {};
  if (count <= kTwoPassMaxCount) {
    double total = 0.0;
    for (int64_t i = 0; i < spans; ++i) total += k.sum(x + i * stride, len);
    const float mu = static_cast<float>(total / count);
    double dev = 0.0, dev2 = 0.0;
    for (int64_t i = 0; i < spans; ++i) {
      const Sums d = k.dev_sums(x + i * stride, len, mu);
      dev += d.first;
      dev2 += d.second;
    }
    // dev / count is the part of the mean lost when it was rounded to float.
    const double shift = dev / count;
    const double var = dev2 / count - shift * shift;
    return {mu + shift, var < 0.0 ? 0.0 : var};  // NaN in the set stays NaN (as PyTorch)
  }
  double n = 0.0, mean = 0.0, m2 = 0.0;
  for (int64_t i = 0; i < spans; ++i) {
    const Sums s = k.mean_m2(x + i * stride, len);
    merge_mean_m2(n, mean, m2, static_cast<double>(len), s.first, s.second);
  }
  return {mean, m2 / n};
}

// Small problems run on one thread: starting a parallel region costs more than they do.
constexpr int64_t kParallelMinElements = 1 << 15;

}  // namespace norm
}  // namespace cnnnative
