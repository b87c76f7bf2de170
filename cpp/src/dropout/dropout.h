// Inverted dropout with a counter-based generator.
//
// Whether element i is kept depends only on (seed, i): a hash of the 64-bit element index
// keyed by the 64-bit seed. So the mask is the same for the same seed whatever the thread
// count or ISA, any range can be generated independently (no shared generator state, the
// kernels are reentrant), and a tensor's mask can be regenerated from its seed.
//
// keep(i) = (hash(seed, i) >> 8) >= round(p * 2^24): P(drop) = p to within 2^-24.
// y = x * (keep ? scale : 0) with scale = 1.0f / float(1 - p), as PyTorch computes it.
#pragma once
#include <cstdint>

namespace cnnnative {

struct DropoutKey {
  uint32_t k0, k1;
  uint32_t threshold;  // drop when the 24-bit draw is below this
  float scale;
};

DropoutKey make_dropout_key(uint64_t seed, double p);

struct DropoutKernels {
  // Elements whose 64-bit index is (hi << 32) + lo_start + j, j in [0, n), never wrapping lo.
  void (*forward)(const float* x, float* y, uint8_t* mask, int64_t n, uint32_t lo_start,
                  uint32_t hi, const DropoutKey& key);
  void (*backward)(const float* g, const uint8_t* mask, float* gx, int64_t n, float scale);
};

extern const DropoutKernels dropout_kernels_scalar;
extern const DropoutKernels dropout_kernels_avx2;
extern const DropoutKernels dropout_kernels_avx512;

// Threaded entry points over n elements.
void dropout_forward(const float* x, float* y, uint8_t* mask, int64_t n, const DropoutKey& key);
void dropout_backward(const float* g, const uint8_t* mask, float* gx, int64_t n, float scale);

// The 32-bit integer hash both the kernels and make_dropout_key use ("lowbias32" style
// xor-shift-multiply). Static so each ISA file keeps its own copy.
static inline uint32_t dropout_hash32(uint32_t x) {
  x ^= x >> 16;
  x *= 0x7feb352dU;
  x ^= x >> 15;
  x *= 0x846ca68bU;
  x ^= x >> 16;
  return x;
}

}  // namespace cnnnative
