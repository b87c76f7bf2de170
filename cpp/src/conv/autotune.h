// Settings shared by the fast convolution algorithms (Winograd, FFT, direct depthwise):
// the on/off switches, the opt-in autotuner with its per-shape cache, and the scratch
// buffers they allocate (filled with NaN when the debug switch is on, so a kernel that
// reads scratch it never wrote fails the tests instead of passing by luck).
#pragma once
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <new>
#include <string>

#include "cnnnative/conv_params.h"

namespace cnnnative {

// set_fast_algorithms(winograd=False) makes the Winograd algorithms report "switched off"
// from supports() (so neither auto nor a forced name runs them); same for FFT.
bool winograd_enabled();
bool fft_enabled();
void set_fast_algorithms(bool winograd, bool fft);

// Debug: fill every scratch buffer with NaN on allocation.
bool scratch_nan_enabled();
void set_scratch_nan(bool on);

// Autotune: when on, algo="auto" times every supported candidate once per shape (and
// thread count and ISA) and remembers the fastest; the cache is guarded by a mutex.
bool autotune_enabled();
void set_autotune(bool on);
void clear_autotune_cache();
// The autotuned choice for p (times the candidates on first use; inputs are scratch).
std::string autotuned_conv_algorithm(const ConvParams& p);

// Raw 64-byte aligned blocks, reused per thread: large scratch (transformed weights of
// a 512-channel layer are tens of MB) would otherwise be mmapped, page-faulted and
// unmapped on every call. Each thread keeps up to 256 MiB of released blocks.
float* scratch_acquire(size_t bytes, size_t* capacity);
void scratch_release(float* p, size_t capacity);

// A 64-byte aligned float buffer, uninitialised (or NaN in debug mode).
class ScratchBuffer {
 public:
  explicit ScratchBuffer(size_t count) : count_(count) {
    if (count == 0) return;
    data_ = scratch_acquire(count * sizeof(float), &capacity_);
    if (scratch_nan_enabled())
      for (size_t i = 0; i < count; ++i) data_[i] = std::numeric_limits<float>::quiet_NaN();
  }
  ~ScratchBuffer() {
    if (data_) scratch_release(data_, capacity_);
  }
  ScratchBuffer(const ScratchBuffer&) = delete;
  ScratchBuffer& operator=(const ScratchBuffer&) = delete;
  float* data() { return data_; }
  size_t size() const { return count_; }

 private:
  float* data_ = nullptr;
  size_t count_ = 0, capacity_ = 0;
};

}  // namespace cnnnative
