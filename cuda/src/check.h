// Turning CUDA errors into C++ exceptions (RuntimeError in Python).
//
// Every runtime call goes through CNC_CUDA_CHECK and every kernel launch is followed by
// check_launch("name"), which reports launch-configuration errors at once. Kernels run
// asynchronously, so a fault inside one surfaces at the next synchronising call; set the
// environment variable CNNNATIVE_CUDA_SYNC=1 to synchronise after every launch and get
// the failing kernel's name (slow; for debugging and compute-sanitizer runs).
#pragma once
#include <cuda_runtime_api.h>

#include <stdexcept>

namespace cnnnative {
namespace cuda {

[[noreturn]] void throw_cuda_error(cudaError_t err, const char* what, const char* file, int line);

// Called right after a kernel launch.
void check_launch(const char* kernel_name);

// True when CNNNATIVE_CUDA_POISON=1: new outputs are filled with NaN before a kernel runs,
// so an element a kernel forgets to write shows up in tests.
bool poison_outputs();

// Grid-size helper: ceil(n / per_block) blocks, capped (kernels use grid-stride loops).
inline unsigned int blocks_for(long long n, int per_block, unsigned int cap = 65535u * 32u) {
  long long b = (n + per_block - 1) / per_block;
  if (b < 1) b = 1;
  return b > cap ? cap : static_cast<unsigned int>(b);
}

}  // namespace cuda
}  // namespace cnnnative

#define CNC_CUDA_CHECK(expr)                                                          \
  do {                                                                                \
    cudaError_t cnc_err_ = (expr);                                                    \
    if (cnc_err_ != cudaSuccess)                                                      \
      ::cnnnative::cuda::throw_cuda_error(cnc_err_, #expr, __FILE__, __LINE__);       \
  } while (0)
