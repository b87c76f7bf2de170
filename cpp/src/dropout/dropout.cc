// Threaded drivers and key setup for dropout (see dropout/dropout.h).
#include "dropout/dropout.h"

#include <cmath>

#include "act/isa_table.h"
#include "act/parallel.h"

namespace cnnnative {
namespace {

constexpr int64_t kGrain = 32768;

const DropoutKernels& kernels() {
  return table_for_active_isa(dropout_kernels_scalar, dropout_kernels_avx2, dropout_kernels_avx512);
}

}  // namespace

DropoutKey make_dropout_key(uint64_t seed, double p) {
  DropoutKey k;
  k.k0 = dropout_hash32(static_cast<uint32_t>(seed) ^ 0x243f6a88U);
  k.k1 = dropout_hash32(static_cast<uint32_t>(seed >> 32) ^ k.k0 ^ 0x85a308d3U);
  k.threshold = static_cast<uint32_t>(std::llround(p * 16777216.0));  // p in [0, 1)
  k.scale = 1.0f / static_cast<float>(1.0 - p);
  return k;
}

void dropout_forward(const float* x, float* y, uint8_t* mask, int64_t n, const DropoutKey& key) {
  const DropoutKernels& k = kernels();
  parallel_for(n, kGrain, [&](int64_t b, int64_t e) {
    // Cut the range where the low 32 bits of the index wrap, so each kernel call has one hi.
    while (b < e) {
      const int64_t next_wrap = ((b >> 32) + 1) << 32;
      const int64_t stop = e < next_wrap ? e : next_wrap;
      k.forward(x + b, y + b, mask + b, stop - b, static_cast<uint32_t>(b),
                static_cast<uint32_t>(b >> 32), key);
      b = stop;
    }
  });
}

void dropout_backward(const float* g, const uint8_t* mask, float* gx, int64_t n, float scale) {
  const DropoutKernels& k = kernels();
  parallel_for(n, kGrain, [&](int64_t b, int64_t e) { k.backward(g + b, mask + b, gx + b, e - b, scale); });
}

}  // namespace cnnnative
