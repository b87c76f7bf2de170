// A caching device allocator.
//
// cudaMalloc/cudaFree are slow and cudaFree synchronises the device, so freed blocks are
// kept in per-device free lists and handed out again. All kernels run on the legacy
// default stream, so a block freed by the host and reused by the next kernel is ordered
// after every earlier use of it: no events are needed. Sizes are rounded up (512 bytes
// below 1 MiB, 2 MiB above) so blocks are reusable across nearby sizes; a cached block is
// reused only for requests of at least half its size. The cache is guarded by a mutex,
// so the allocator is safe to call from several threads.
#pragma once
#include <cstddef>
#include <cstdint>

namespace cnnnative {
namespace cuda {

struct DeviceBlock {
  void* ptr = nullptr;
  size_t bytes = 0;  // the rounded size actually held
  int device = 0;
};

// Throws std::bad_alloc (MemoryError) when the device is out of memory even after the
// cache has been released. bytes == 0 gives a null block.
DeviceBlock device_alloc(size_t bytes, int device);
void device_free(const DeviceBlock& block) noexcept;

// Returns every cached (free) block to the driver.
void empty_cache();

struct AllocatorStats {
  size_t in_use_bytes = 0;   // held by live tensors
  size_t cached_bytes = 0;   // free, kept for reuse
  size_t peak_in_use_bytes = 0;
  size_t device_mallocs = 0;  // cudaMalloc calls so far
};
AllocatorStats allocator_stats();

}  // namespace cuda
}  // namespace cnnnative
