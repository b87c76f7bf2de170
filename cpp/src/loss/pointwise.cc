// Threaded drivers for the elementwise losses (see loss/pointwise.h): fixed chunks, each
// handed to the active ISA's kernel.
#include "loss/pointwise.h"

#include <algorithm>
#include <vector>

#include "act/isa_table.h"
#include "act/parallel.h"

namespace cnnnative {
namespace {

constexpr int64_t kChunk = 16384;

const PointwiseLossKernels& kernels() {
  return table_for_active_isa(pointwise_loss_kernels_scalar, pointwise_loss_kernels_avx2,
                              pointwise_loss_kernels_avx512);
}

// Runs body(begin, count) over fixed chunks of [0, n) and returns the sum of what it
// returns, added in chunk order (the same bits for any thread count).
template <typename Body>
double chunked_sum(int64_t n, Body body) {
  const int64_t chunks = (n + kChunk - 1) / kChunk;
  std::vector<double> partial(static_cast<size_t>(chunks), 0.0);
  parallel_for(chunks, 1, [&](int64_t cb, int64_t ce) {
    for (int64_t c = cb; c < ce; ++c) partial[c] = body(c * kChunk, std::min(kChunk, n - c * kChunk));
  });
  double total = 0.0;
  for (double p : partial) total += p;
  return total;
}

template <typename Body>
void chunked(int64_t n, Body body) {
  parallel_for(n, kChunk, [&](int64_t b, int64_t e) { body(b, e - b); });
}

inline const float* at(const float* p, int64_t i) { return p ? p + i : nullptr; }

}  // namespace

double mse_loss_forward(const float* x, const float* y, int64_t n, float* out) {
  const PointwiseLossKernels& k = kernels();
  if (out) {
    chunked(n, [&](int64_t b, int64_t m) { k.mse_elements(x + b, y + b, m, out + b); });
    return 0.0;
  }
  return chunked_sum(n, [&](int64_t b, int64_t m) { return k.mse_sum(x + b, y + b, m); });
}

void mse_loss_backward(const float* x, const float* y, int64_t n, const float* grad, float scale, float* gx) {
  const PointwiseLossKernels& k = kernels();
  chunked(n, [&](int64_t b, int64_t m) { k.mse_backward(x + b, y + b, m, at(grad, b), scale, gx + b); });
}

double bce_with_logits_forward(const float* x, const float* y, const float* weight, const float* pos_weight,
                               int64_t n, float* out) {
  const PointwiseLossKernels& k = kernels();
  if (out) {
    chunked(n, [&](int64_t b, int64_t m) {
      k.bce_elements(x + b, y + b, at(weight, b), at(pos_weight, b), m, out + b);
    });
    return 0.0;
  }
  return chunked_sum(n, [&](int64_t b, int64_t m) {
    return k.bce_sum(x + b, y + b, at(weight, b), at(pos_weight, b), m);
  });
}

void bce_with_logits_backward(const float* x, const float* y, const float* weight, const float* pos_weight,
                              int64_t n, const float* grad, float scale, float* gx) {
  const PointwiseLossKernels& k = kernels();
  chunked(n, [&](int64_t b, int64_t m) {
    k.bce_backward(x + b, y + b, at(weight, b), at(pos_weight, b), m, at(grad, b), scale, gx + b);
  });
}

}  // namespace cnnnative
