// Dropout kernels, written once and compiled per ISA (see dropout/dropout.h). The
// including file defines CNNNATIVE_TABLE and carries the ISA's flags; the loops are
// 32-bit integer hashing the compiler vectorises.
#include "dropout/dropout.h"

namespace cnnnative {
namespace {

void forward(const float* x, float* y, uint8_t* mask, int64_t n, uint32_t lo_start, uint32_t hi,
             const DropoutKey& key) {
  // The high word of the index is fixed over the range: fold it into the second key once.
  const uint32_t k1 = dropout_hash32(key.k1 ^ (hi * 0x9e3779b9U));
  const uint32_t k0 = key.k0, threshold = key.threshold;
  const float scale = key.scale;
#pragma omp simd
  for (int64_t j = 0; j < n; ++j) {
    const uint32_t i = lo_start + static_cast<uint32_t>(j);
    const uint32_t h = dropout_hash32(dropout_hash32(i ^ k0) + k1);
    const bool keep = (h >> 8) >= threshold;
    mask[j] = keep ? 1 : 0;
    y[j] = x[j] * (keep ? scale : 0.0f);
  }
}

void backward(const float* g, const uint8_t* mask, float* gx, int64_t n, float scale) {
#pragma omp simd
  for (int64_t j = 0; j < n; ++j) gx[j] = g[j] * (mask[j] ? scale : 0.0f);
}

}  // namespace

extern const DropoutKernels CNNNATIVE_TABLE = {forward, backward};

}  // namespace cnnnative
