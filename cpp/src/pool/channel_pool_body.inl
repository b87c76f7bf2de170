// Cross-channel pooling kernels, written once and compiled per ISA (see pool/channel_pool.h).
// The including file defines CNNNATIVE_TABLE and carries the ISA's flags. Every loop runs
// along the contiguous spatial positions, one channel of the group after another, so each
// is a plain unit-stride loop the compiler vectorises.
#include "pool/channel_pool.h"

namespace cnnnative {
namespace {

void max_forward(const float* x, float* y, int32_t* idx, int64_t k, int64_t S, int64_t s0, int64_t s1) {
#pragma omp simd
  for (int64_t s = s0; s < s1; ++s) y[s] = x[s];
  if (idx) {
#pragma omp simd
    for (int64_t s = s0; s < s1; ++s) idx[s] = 0;
  }
  for (int64_t j = 1; j < k; ++j) {
    const float* xj = x + j * S;
    const int32_t piece = static_cast<int32_t>(j);
    if (idx) {
#pragma omp simd
      for (int64_t s = s0; s < s1; ++s) {
        const float v = xj[s], m = y[s];
        const bool take = v > m || (v != v && m == m);  // first NaN wins, as torch.max(dim)
        y[s] = take ? v : m;
        idx[s] = take ? piece : idx[s];
      }
    } else {
#pragma omp simd
      for (int64_t s = s0; s < s1; ++s) {
        const float v = xj[s], m = y[s];
        y[s] = (v > m || (v != v && m == m)) ? v : m;
      }
    }
  }
}

void avg_forward(const float* x, float* y, int64_t k, int64_t S, int64_t s0, int64_t s1) {
#pragma omp simd
  for (int64_t s = s0; s < s1; ++s) y[s] = x[s];
  for (int64_t j = 1; j < k; ++j) {
    const float* xj = x + j * S;
#pragma omp simd
    for (int64_t s = s0; s < s1; ++s) y[s] += xj[s];
  }
  const float inv = 1.0f / static_cast<float>(k);
#pragma omp simd
  for (int64_t s = s0; s < s1; ++s) y[s] *= inv;
}

void max_backward(const float* g, const int32_t* idx, float* gx, int64_t k, int64_t S, int64_t s0, int64_t s1) {
  for (int64_t j = 0; j < k; ++j) {
    float* gj = gx + j * S;
    const int32_t piece = static_cast<int32_t>(j);
#pragma omp simd
    for (int64_t s = s0; s < s1; ++s) gj[s] = idx[s] == piece ? g[s] : 0.0f;
  }
}

void avg_backward(const float* g, float* gx, int64_t k, int64_t S, int64_t s0, int64_t s1) {
  const float inv = 1.0f / static_cast<float>(k);
  for (int64_t j = 0; j < k; ++j) {
    float* gj = gx + j * S;
#pragma omp simd
    for (int64_t s = s0; s < s1; ++s) gj[s] = g[s] * inv;
  }
}

}  // namespace

extern const ChannelPoolKernels CNNNATIVE_TABLE = {max_forward, avg_forward, max_backward, avg_backward};

}  // namespace cnnnative
