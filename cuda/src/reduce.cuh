// Block-wide sums for reduction kernels launched with kReduceThreads threads.
#pragma once

namespace cnnnative {
namespace cuda {

constexpr int kReduceThreads = 256;

// Sum of `v` over the block; every thread gets the result. `scratch` holds
// kReduceThreads elements of T in shared memory. Contains __syncthreads: call it from
// every thread of the block.
template <typename T>
__device__ T block_sum(T v, T* scratch) {
  scratch[threadIdx.x] = v;
  __syncthreads();
  for (int stride = kReduceThreads / 2; stride > 0; stride /= 2) {
    if (threadIdx.x < stride) scratch[threadIdx.x] += scratch[threadIdx.x + stride];
    __syncthreads();
  }
  const T total = scratch[0];
  __syncthreads();  // scratch may be reused right after
  return total;
}

}  // namespace cuda
}  // namespace cnnnative
