// Bias kernels for linear, written once and compiled per ISA (see linear/linear.h). The
// including file defines CNNNATIVE_TABLE and carries the ISA's flags.
#include "linear/linear.h"

namespace cnnnative {
namespace {

void add_rows(float* y, const float* b, int64_t rows, int64_t cols) {
  for (int64_t r = 0; r < rows; ++r) {
    float* yr = y + r * cols;
#pragma omp simd
    for (int64_t c = 0; c < cols; ++c) yr[c] += b[c];
  }
}

void column_sums(const float* g, int64_t rows, int64_t cols, int64_t c0, int64_t c1, float* out) {
  const int64_t n = c1 - c0;
  for (int64_t c = 0; c < n; ++c) out[c] = 0.0f;
  for (int64_t r = 0; r < rows; ++r) {
    const float* gr = g + r * cols + c0;
#pragma omp simd
    for (int64_t c = 0; c < n; ++c) out[c] += gr[c];
  }
}

}  // namespace

extern const BiasKernels CNNNATIVE_TABLE = {add_rows, column_sums};

}  // namespace cnnnative
