// One thread count for the whole library.
//
// omp_set_num_threads() only sets the calling thread's value, so a kernel called from
// another Python thread would ignore it. Instead the count is a process-wide setting
// and every parallel region asks for it explicitly:
//   #pragma omp parallel for num_threads(cnnnative::num_threads())
// (or a smaller count derived from it). Nothing else may choose a region's size.
//
// Start value, read once when the module loads (never from OpenMP, whose per-thread
// value another library such as torch may have changed): OMP_NUM_THREADS if it is a
// valid count, else the CPUs this process may run on (its affinity mask).
//
// Fork: libgomp keeps each thread's worker pool in thread-local state, and after fork()
// the child inherits that state but not the workers, so the next multi-threaded region
// opened by the thread that forked waits for them forever. So if that thread had asked
// for more than one thread before the fork, in the child it gets 1 from num_threads(),
// whatever set_num_threads says. A thread the child starts has no pool yet, gets a
// fresh one and uses the full count; so does a child forked by a thread that never
// opened a team (e.g. multiprocessing's forkserver).
#pragma once

#include <string>

namespace cnnnative {

int num_threads();            // threads a region opened by the calling thread may use
// For a region whose size is chosen otherwise (the FMA-peak probe): `requested`, or 1
// where num_threads() would say 1 because of fork.
int team_for(int requested);
void set_num_threads(int n);  // n >= 1, else ValueError

// A thread count for the calling thread alone while this object lives (the C API's
// per-session count): num_threads() there returns n instead of the process-wide value,
// except after fork as above. Nests; n <= 0 leaves the count as it was.
class ThreadCountOverride {
 public:
  explicit ThreadCountOverride(int n);
  ~ThreadCountOverride();
  ThreadCountOverride(const ThreadCountOverride&) = delete;
  ThreadCountOverride& operator=(const ThreadCountOverride&) = delete;

 private:
  int previous_;
};
bool openmp_enabled();

// Where the start value came from, read at module load.
struct ThreadDefault {
  int count;
  std::string source;   // "OMP_NUM_THREADS" or "CPU affinity"
  std::string warning;  // why OMP_NUM_THREADS was ignored; empty when it was not
};
const ThreadDefault& thread_default();

// "OMP_NUM_THREADS", "CPU affinity" or "set_num_threads".
std::string thread_count_source();

// True on the thread that forked this process (its OpenMP pool was lost).
bool calling_thread_lost_pool_in_fork();

// Testing aid: opens one region of num_threads() threads and returns the team size
// OpenMP gave it (the region that hangs a forked child without the fork rule).
int parallel_team_size();

}  // namespace cnnnative
