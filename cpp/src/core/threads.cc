// The process-wide thread count (see cnnnative/threads.h).
#include "cnnnative/threads.h"

#include <omp.h>

#include <atomic>
#include <cstdlib>

#include "cnnnative/errors.h"

namespace cnnnative {
namespace {

int initial_threads() {
  // omp_get_max_threads() already honours OMP_NUM_THREADS.
  int n = omp_get_max_threads();
  return n > 0 ? n : 1;
}

std::atomic<int>& thread_count() {
  static std::atomic<int> n{initial_threads()};
  return n;
}

}  // namespace

int num_threads() { return thread_count().load(std::memory_order_relaxed); }

void set_num_threads(int n) {
  CN_CHECK(n >= 1, "set_num_threads: n must be >= 1, got ", n);
  CN_CHECK(n <= 4096, "set_num_threads: n must be <= 4096, got ", n);
  thread_count().store(n);
}

bool openmp_enabled() { return true; }

}  // namespace cnnnative
