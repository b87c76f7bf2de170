// Threaded drivers of PReLU (see act/prelu.h).
#include "act/prelu.h"

#include <vector>

#include "act/elementwise.h"
#include "act/parallel.h"
#include "cnnnative/threads.h"

namespace cnnnative {
namespace {

constexpr int64_t kGrain = 32768;  // elements per thread below which one thread does it all
// Runs shorter than this (e.g. (N, C) activations, inner = 1) are done by a plain loop here;
// a kernel call per run would cost more than the run.
constexpr int64_t kShortRun = 16;

// Calls run(begin, end, c) for each maximal piece of [b, e) lying in one channel run.
template <typename Run>
void for_each_run(int64_t b, int64_t e, int64_t C, int64_t inner, Run run) {
  int64_t i = b;
  while (i < e) {
    const int64_t row = i / inner;
    const int64_t stop = (row + 1) * inner < e ? (row + 1) * inner : e;
    run(i, stop, row % C);
    i = stop;
  }
}

}  // namespace

void prelu_forward(const float* x, const float* weight, float* y, int64_t outer, int64_t C,
                   int64_t inner) {
  if (C == 1) {  // one slope: the whole array is one run
    ActParams p;
    p.a = weight[0];
    elementwise_unary(UnaryOp::leaky_relu, x, y, outer * inner, p);
    return;
  }
  const UnaryKernel leaky = elementwise_kernels().unary[static_cast<int>(UnaryOp::leaky_relu)];
  parallel_for(outer * C * inner, kGrain, [&](int64_t b, int64_t e) {
    for_each_run(b, e, C, inner, [&](int64_t s, int64_t t, int64_t c) {
      const float w = weight[c];
      if (inner < kShortRun) {
        for (int64_t i = s; i < t; ++i) y[i] = x[i] > 0.0f ? x[i] : x[i] * w;
      } else {
        ActParams p;
        p.a = w;
        leaky(x + s, y + s, t - s, p);
      }
    });
  });
}

void prelu_backward(const float* g, const float* x, const float* weight, float* gx, float* gw,
                    int64_t outer, int64_t C, int64_t inner) {
  if (C == 1) {  // one run over everything
    inner *= outer;
    outer = 1;
  }
  const int64_t n = outer * C * inner;
  const PreluBackwardKernel kernel = elementwise_kernels().prelu_backward;
  // One row of partial slope gradients per thread (in double), summed at the end.
  const int threads = num_threads();
  std::vector<double> partial(gw != nullptr ? static_cast<size_t>(threads) * C : 0, 0.0);
  parallel_for_indexed(n, kGrain, [&](int tid, int64_t b, int64_t e) {
    double* mine = gw != nullptr ? partial.data() + static_cast<size_t>(tid) * C : nullptr;
    for_each_run(b, e, C, inner, [&](int64_t s, int64_t t, int64_t c) {
      const float w = weight[c];
      if (inner < kShortRun) {
        float sum = 0.0f;
        for (int64_t i = s; i < t; ++i) {
          const bool positive = x[i] > 0.0f;
          if (gx != nullptr) gx[i] = positive ? g[i] : g[i] * w;
          sum += positive ? 0.0f : x[i] * g[i];
        }
        if (mine != nullptr) mine[c] += sum;
      } else {
        const double sum = kernel(g + s, x + s, gx != nullptr ? gx + s : nullptr, t - s, w);
        if (mine != nullptr) mine[c] += sum;
      }
    });
  });
  if (gw == nullptr) return;
  for (int64_t c = 0; c < C; ++c) {
    double total = 0.0;
    for (int t = 0; t < threads; ++t) total += partial[static_cast<size_t>(t) * C + c];
    gw[c] = static_cast<float>(total);
  }
}

}  // namespace cnnnative
