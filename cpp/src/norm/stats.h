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

// Statistics of `spans` runs of `len` floats starting `stride` floats apart: each
// span's (mean, M2) from the kernel, merged in double.
inline MeanVar span_stats(const Kernels& k, const float* x, int64_t spans, int64_t stride,
                          int64_t len) {
  if (spans == 0 || len == 0) return {};
  double count = 0.0, mean = 0.0, m2 = 0.0;
  for (int64_t i = 0; i < spans; ++i) {
    const Sums s = k.mean_m2(x + i * stride, len);
    merge_mean_m2(count, mean, m2, static_cast<double>(len), s.first, s.second);
  }
  return {mean, m2 / count};
}

// Small problems run on one thread: starting a parallel region costs more than they do.
constexpr int64_t kParallelMinElements = 1 << 15;

}  // namespace norm
}  // namespace cnnnative
