// Reuse of large output buffers across training steps.
//
// A training step allocates the same outputs and gradients every time (a few MB each) and
// frees them all when its graph dies. Handed to malloc and back, that memory is returned to
// the kernel between steps and faulted in again on the next: about 2,700 page faults, 8 ms
// of kernel time in a 24 ms seed_mnist_net step at batch 64 (benchmarks/RESULTS.md). Freed
// output blocks of kMinBytes or more are kept here by size, kMaxBytes in all, and given
// to the next output of the same size; a block that does not fit is freed at once.
#pragma once
#include <cstddef>
#include <cstdlib>
#include <mutex>
#include <new>
#include <unordered_map>
#include <vector>

namespace cnnnative {

class OutputCache {
 public:
  static constexpr std::size_t kMinBytes = std::size_t(1) << 18;  // 256 KB: smaller ones are cheap
  static constexpr std::size_t kMaxBytes = std::size_t(256) << 20;  // what an idle process may keep
  static constexpr std::size_t kAlign = 64;                        // one AVX-512 vector, one line

  static OutputCache& instance() {
    static OutputCache* cache = new OutputCache();  // never destroyed: capsules may outlive exit
    return *cache;
  }

  // A 64-byte aligned block of `bytes` (rounded up to kAlign); throws std::bad_alloc.
  void* take(std::size_t bytes) {
    bytes = rounded(bytes);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = free_.find(bytes);
      if (it != free_.end() && !it->second.empty()) {
        void* p = it->second.back();
        it->second.pop_back();
        held_ -= bytes;
        return p;
      }
    }
    void* p = std::aligned_alloc(kAlign, bytes);
    if (p == nullptr) throw std::bad_alloc();
    return p;
  }

  // Back from a dead array: kept for the next output of this size, or freed.
  void give(void* p, std::size_t bytes) {
    bytes = rounded(bytes);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (held_ + bytes <= kMaxBytes) {
        free_[bytes].push_back(p);
        held_ += bytes;
        return;
      }
    }
    std::free(p);
  }

  std::size_t held_bytes() {
    std::lock_guard<std::mutex> lock(mutex_);
    return held_;
  }

  // Free every kept block (what an idle process holds drops to zero).
  void clear() {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto& entry : free_)
      for (void* p : entry.second) std::free(p);
    free_.clear();
    held_ = 0;
  }

 private:
  static std::size_t rounded(std::size_t bytes) { return (bytes + kAlign - 1) / kAlign * kAlign; }

  std::mutex mutex_;
  std::unordered_map<std::size_t, std::vector<void*>> free_;
  std::size_t held_ = 0;
};

}  // namespace cnnnative
