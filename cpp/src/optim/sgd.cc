// Threaded drivers for the optimizer kernels (see optim/sgd.h).
#include "optim/sgd.h"

#include <vector>

#include "act/isa_table.h"
#include "act/parallel.h"

namespace cnnnative {
namespace {

constexpr int64_t kGrain = 32768;

const OptimKernels& kernels() {
  return table_for_active_isa(optim_kernels_scalar, optim_kernels_avx2, optim_kernels_avx512);
}

}  // namespace

void sgd_update(float* param, const float* grad, float* buf, int64_t n, const SgdConfig& cfg) {
  const OptimKernels& k = kernels();
  parallel_for(n, kGrain, [&](int64_t b, int64_t e) {
    k.sgd(param + b, grad + b, buf ? buf + b : nullptr, e - b, cfg);
  });
}

double sum_of_squares(const float* x, int64_t n) {
  const OptimKernels& k = kernels();
  // A fixed number of pieces (from n and the thread count only), each summed by one
  // thread and added in order afterwards: the result does not depend on scheduling.
  int64_t pieces = n / kGrain;
  if (pieces > num_threads()) pieces = num_threads();
  if (pieces < 1) pieces = 1;
  std::vector<double> partial(static_cast<size_t>(pieces), 0.0);
  parallel_for(pieces, 1, [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) {
      const int64_t lo = n * t / pieces, hi = n * (t + 1) / pieces;
      partial[static_cast<size_t>(t)] = k.sum_of_squares(x + lo, hi - lo);
    }
  });
  double s = 0.0;
  for (double v : partial) s += v;
  return s;
}

void scale_inplace(float* x, int64_t n, float s) {
  const OptimKernels& k = kernels();
  parallel_for(n, kGrain, [&](int64_t b, int64_t e) { k.scale(x + b, e - b, s); });
}

}  // namespace cnnnative
