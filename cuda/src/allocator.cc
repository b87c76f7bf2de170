// See allocator.h.
#include "allocator.h"

#include <cuda_runtime_api.h>

#include <map>
#include <mutex>
#include <new>
#include <utility>

#include "check.h"

namespace cnnnative {
namespace cuda {

namespace {

struct Cache {
  std::mutex mutex;
  // (device, size) -> free pointers of that size.
  std::multimap<std::pair<int, size_t>, void*> free_blocks;
  AllocatorStats stats;
};

Cache& cache() {
  static Cache* c = new Cache;  // never destroyed: blocks may be freed during interpreter exit
  return *c;
}

size_t round_size(size_t bytes) {
  const size_t small = 512, large = size_t(2) << 20;
  const size_t unit = bytes < (size_t(1) << 20) ? small : large;
  if (bytes > SIZE_MAX - unit) throw std::bad_alloc();
  return (bytes + unit - 1) / unit * unit;
}

// Frees all cached blocks; the caller holds the mutex.
void release_cached_locked(Cache& c) {
  int current = 0;
  cudaGetDevice(&current);
  for (auto& kv : c.free_blocks) {
    cudaSetDevice(kv.first.first);
    cudaFree(kv.second);
    c.stats.cached_bytes -= kv.first.second;
  }
  c.free_blocks.clear();
  cudaSetDevice(current);
}

}  // namespace

DeviceBlock device_alloc(size_t bytes, int device) {
  DeviceBlock block;
  block.device = device;
  if (bytes == 0) return block;
  const size_t size = round_size(bytes);
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  auto it = c.free_blocks.lower_bound({device, size});
  if (it != c.free_blocks.end() && it->first.first == device && it->first.second / 2 <= size) {
    block.ptr = it->second;
    block.bytes = it->first.second;
    c.free_blocks.erase(it);
    c.stats.cached_bytes -= block.bytes;
  } else {
    int current = 0;
    CNC_CUDA_CHECK(cudaGetDevice(&current));
    CNC_CUDA_CHECK(cudaSetDevice(device));
    cudaError_t err = cudaMalloc(&block.ptr, size);
    if (err == cudaErrorMemoryAllocation) {  // give the cache back and try once more
      cudaGetLastError();
      release_cached_locked(c);
      CNC_CUDA_CHECK(cudaSetDevice(device));
      err = cudaMalloc(&block.ptr, size);
    }
    cudaSetDevice(current);
    if (err != cudaSuccess) {
      cudaGetLastError();
      if (err == cudaErrorMemoryAllocation) throw std::bad_alloc();
      throw_cuda_error(err, "cudaMalloc", __FILE__, __LINE__);
    }
    block.bytes = size;
    c.stats.device_mallocs++;
  }
  c.stats.in_use_bytes += block.bytes;
  if (c.stats.in_use_bytes > c.stats.peak_in_use_bytes) c.stats.peak_in_use_bytes = c.stats.in_use_bytes;
  return block;
}

void device_free(const DeviceBlock& block) noexcept {
  if (block.ptr == nullptr) return;
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  c.free_blocks.emplace(std::make_pair(block.device, block.bytes), block.ptr);
  c.stats.in_use_bytes -= block.bytes;
  c.stats.cached_bytes += block.bytes;
}

void empty_cache() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  release_cached_locked(c);
}

AllocatorStats allocator_stats() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  return c.stats;
}

}  // namespace cuda
}  // namespace cnnnative
