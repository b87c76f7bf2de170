// Splitting a range of independent work items across the library's threads.
//
// The per-ISA kernels in act/, pool/, loss/, optim/, linear/ and dropout/ are written for one
// thread over a range [begin, end); the drivers hand each thread one contiguous piece with
// parallel_for. Small ranges (fewer than `grain` items per thread) run on the calling thread,
// so tiny tensors do not pay for waking a team.
#pragma once
#include <omp.h>

#include <cstdint>

#include "cnnnative/threads.h"

namespace cnnnative {

template <typename Body>
void parallel_for(int64_t n, int64_t grain, Body body) {
  if (n <= 0) return;
  if (grain < 1) grain = 1;
  int64_t teams = n / grain;
  const int64_t want = num_threads();
  if (teams > want) teams = want;
  if (teams <= 1) {
    body(int64_t(0), n);
    return;
  }
  const int threads = static_cast<int>(teams);
#pragma omp parallel num_threads(threads)
  {
    const int64_t t = omp_get_thread_num(), nt = omp_get_num_threads();
    // Even split; n * t cannot overflow because n is an element count of a real array.
    const int64_t begin = n * t / nt, end = n * (t + 1) / nt;
    if (begin < end) body(begin, end);
  }
}

}  // namespace cnnnative
