// Merging the statistics of two sets of values, used by the kernels (blocks of a span)
// and by the callers (spans of a channel).
//
// Internal linkage on purpose: this header is also compiled into the per-ISA kernel
// files, and a shared out-of-line copy built with AVX-512 flags must never be the one
// the scalar path calls.
#pragma once

namespace cnnnative {
namespace norm {
namespace {

// (count, mean, M2 = sum of squared deviations) of a set, updated to include another set
// (Chan, Golub & LeVeque's pairwise update; exact in exact arithmetic, and no
// cancellation since both M2 terms and the correction are non-negative).
inline void merge_mean_m2(double& count, double& mean, double& m2, double count_b, double mean_b,
                          double m2_b) {
  const double total = count + count_b;
  const double delta = mean_b - mean;
  mean += delta * (count_b / total);
  m2 += m2_b + delta * delta * (count * count_b / total);
  count = total;
}

}  // namespace
}  // namespace norm
}  // namespace cnnnative
