// Cross-entropy kernels, written once and compiled per ISA (see loss/cross_entropy.h).
// The including file defines CNNNATIVE_TABLE and carries the ISA's flags.
#include "act/vmath.h"
#include "loss/cross_entropy.h"

namespace cnnnative {
namespace {

// Row maximum and sum of exp(x - max): the stable log-sum-exp pieces.
inline void row_stats(const float* xr, int64_t C, float* max_out, float* sum_out) {
  float m = -__builtin_inff();
#pragma omp simd reduction(max : m)
  for (int64_t j = 0; j < C; ++j) m = xr[j] > m ? xr[j] : m;
  float s = 0.0f;
#pragma omp simd reduction(+ : s)
  for (int64_t j = 0; j < C; ++j) s += vm::exp(xr[j] - m);
  *max_out = m;
  *sum_out = s;
}

void forward(const float* x, const int64_t* target, int64_t rows, int64_t C, float* loss) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * C;
    float m, s;
    row_stats(xr, C, &m, &s);
    loss[r] = (m - xr[target[r]]) + __builtin_logf(s);
  }
}

void backward(const float* x, const int64_t* target, int64_t rows, int64_t C, const float* row_scale,
              float scale, float* gx) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * C;
    float* g = gx + r * C;
    float m, s;
    row_stats(xr, C, &m, &s);
    const float k = (row_scale ? row_scale[r] : scale) / s;
#pragma omp simd
    for (int64_t j = 0; j < C; ++j) g[j] = vm::exp(xr[j] - m) * k;
    g[target[r]] -= row_scale ? row_scale[r] : scale;
  }
}

}  // namespace

extern const CrossEntropyKernels CNNNATIVE_TABLE = {forward, backward};

}  // namespace cnnnative
