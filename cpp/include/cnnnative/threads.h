// One thread count for the whole library.
//
// The count is a process-wide setting (a per-thread one would be ignored by kernels called
// from another Python thread), and every parallel region asks for it explicitly:
//   run_team(cnnnative::num_threads(), ...)   (cnnnative/thread_pool.h)
// or a smaller count derived from it. Nothing else may choose a region's size. The library
// links no OpenMP runtime: its regions run on its own team (`#pragma omp simd` lines are
// vectorisation hints, compiled with -fopenmp-simd).
//
// Start value, read once when the module loads: OMP_NUM_THREADS if it is a valid count
// (the variable users already set for this), else the CPUs this process may run on (its
// affinity mask). Never from an OpenMP runtime another library such as torch may have
// changed.
//
// Fork: the child starts a fresh team when it first needs one (thread_pool.cc), so every
// thread of the child, the one that forked included, uses the full count.
#pragma once

#include <string>

namespace cnnnative {

int num_threads();            // threads a region opened by the calling thread may use
void set_num_threads(int n);  // n >= 1, else ValueError

// A thread count for the calling thread alone while this object lives (the C API's
// per-session count): num_threads() there returns n instead of the process-wide value.
// Nests; n <= 0 leaves the count as it was.
class ThreadCountOverride {
 public:
  explicit ThreadCountOverride(int n);
  ~ThreadCountOverride();
  ThreadCountOverride(const ThreadCountOverride&) = delete;
  ThreadCountOverride& operator=(const ThreadCountOverride&) = delete;

 private:
  int previous_;
};

// Where the start value came from, read at module load.
struct ThreadDefault {
  int count;
  std::string source;   // "OMP_NUM_THREADS" or "CPU affinity"
  std::string warning;  // why OMP_NUM_THREADS was ignored; empty when it was not
};
const ThreadDefault& thread_default();

// "OMP_NUM_THREADS", "CPU affinity" or "set_num_threads".
std::string thread_count_source();

// Testing aid: opens one region of num_threads() members that all meet at a barrier (so
// each runs on a thread of its own) and returns its size. may_back_off: a run_team region,
// which gets a team of 1 during a busy-machine back-off; else run_team_no_backoff.
int parallel_team_size(bool may_back_off = false);

}  // namespace cnnnative
