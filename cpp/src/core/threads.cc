// The process-wide thread count and its fork rule (see cnnnative/threads.h).
#include "cnnnative/threads.h"
#include "cnnnative/thread_pool.h"

#include <omp.h>
#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <string>

#include "cnnnative/errors.h"

namespace cnnnative {
namespace {

constexpr int kMaxThreads = 4096;

// The CPUs this process may run on (taskset, cgroup cpusets), not all the machine has.
int affinity_cpus() {
  for (int size = 1024; size <= 1 << 16; size *= 2) {
    cpu_set_t* set = CPU_ALLOC(size);
    if (!set) break;
    const size_t bytes = CPU_ALLOC_SIZE(size);
    const bool ok = sched_getaffinity(0, bytes, set) == 0;
    const int count = ok ? CPU_COUNT_S(bytes, set) : 0;
    CPU_FREE(set);
    if (ok) return count > 0 ? count : 1;
    if (errno != EINVAL) break;  // EINVAL: the mask is larger than `size` CPUs
  }
  const long online = sysconf(_SC_NPROCESSORS_ONLN);
  return online > 0 ? static_cast<int>(online) : 1;
}

// OMP_NUM_THREADS is a comma-separated list (one count per nesting level); the first
// entry is ours. Returns false, with the reason, when that entry is not a count.
bool parse_omp_num_threads(const std::string& text, int* count, std::string* problem) {
  const std::string first = text.substr(0, text.find(','));
  size_t begin = 0, end = first.size();
  while (begin < end && std::isspace(static_cast<unsigned char>(first[begin]))) ++begin;
  while (end > begin && std::isspace(static_cast<unsigned char>(first[end - 1]))) --end;
  const std::string digits = first.substr(begin, end - begin);
  bool all_digits = !digits.empty() && digits.size() <= 9;
  for (char c : digits) all_digits = all_digits && std::isdigit(static_cast<unsigned char>(c));
  const long value = all_digits ? std::strtol(digits.c_str(), nullptr, 10) : 0;
  if (value < 1 || value > kMaxThreads) {
    *problem = concat("OMP_NUM_THREADS='", text, "' is not a thread count from 1 to ", kMaxThreads);
    return false;
  }
  *count = static_cast<int>(value);
  return true;
}

ThreadDefault read_thread_default() {
  const int cpus = std::min(affinity_cpus(), kMaxThreads);
  ThreadDefault d{cpus, "CPU affinity", ""};
  const char* env = std::getenv("OMP_NUM_THREADS");
  std::string text = env ? env : "";
  if (text.find_first_not_of(" \t") == std::string::npos) return d;  // unset or blank
  int count = 0;
  if (parse_omp_num_threads(text, &count, &d.warning)) {
    d.count = count;
    d.source = "OMP_NUM_THREADS";
  } else {
    d.warning += concat("; using ", cpus, " (the CPUs this process may run on)");
  }
  return d;
}

std::atomic<int>& thread_count() {
  static std::atomic<int> n{thread_default().count};
  return n;
}

std::atomic<bool> explicitly_set{false};

// Set once this thread has asked for a team of more than one: libgomp may then hold a
// worker pool for it. (A pool opened by another library on the same libgomp is not seen.)
thread_local bool may_own_pool = false;

// The child of fork() starts with one thread, the one that called fork; its libgomp pool
// (thread-local) names workers the child does not have. Threads the child starts later
// get pools of their own, so only this thread is marked (fork preserves pthread_self()).
std::atomic<bool> forking_thread_lost_pool{false};
pthread_t forking_thread;

void after_fork_in_child() {
  forking_thread = pthread_self();
  forking_thread_lost_pool.store(may_own_pool);
}

// Registered when the module loads, before any region can open.
[[maybe_unused]] const int fork_handler = pthread_atfork(nullptr, nullptr, after_fork_in_child);

}  // namespace

const ThreadDefault& thread_default() {
  static const ThreadDefault d = read_thread_default();
  return d;
}

bool calling_thread_lost_pool_in_fork() {
  return forking_thread_lost_pool.load(std::memory_order_relaxed) &&
         pthread_equal(pthread_self(), forking_thread);
}

int team_for(int requested) {
  // A multi-threaded region here would wait forever for the lost workers; a region of
  // one thread does not touch the pool.
  if (calling_thread_lost_pool_in_fork()) return 1;
  if (requested > 1) may_own_pool = true;
  return requested;
}

namespace {
thread_local int thread_count_override = 0;  // 0: the process-wide count (ThreadCountOverride)
}  // namespace

// Inside a member of run_team's team a kernel runs on its thread alone (thread_pool.h).
int num_threads() {
  if (in_team()) return 1;
  const int n = thread_count_override > 0 ? thread_count_override : thread_count().load(std::memory_order_relaxed);
  return team_for(n);
}

ThreadCountOverride::ThreadCountOverride(int n) : previous_(thread_count_override) {
  if (n > 0) thread_count_override = std::min(n, kMaxThreads);
}
ThreadCountOverride::~ThreadCountOverride() { thread_count_override = previous_; }

void set_num_threads(int n) {
  CN_CHECK(n >= 1, "set_num_threads: n must be >= 1, got ", n);
  CN_CHECK(n <= kMaxThreads, "set_num_threads: n must be <= ", kMaxThreads, ", got ", n);
  thread_count().store(n);
  explicitly_set.store(true);
}

std::string thread_count_source() {
  return explicitly_set.load() ? "set_num_threads" : thread_default().source;
}

bool openmp_enabled() { return true; }

int parallel_team_size() {
  int team = 0;
#pragma omp parallel num_threads(num_threads())
  {
#pragma omp single
    team = omp_get_num_threads();
  }
  return team;
}

}  // namespace cnnnative
