// The process-wide thread count (see cnnnative/threads.h).
#include "cnnnative/threads.h"
#include "cnnnative/thread_pool.h"

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
thread_local int thread_count_override = 0;  // 0: the process-wide count (ThreadCountOverride)

}  // namespace

const ThreadDefault& thread_default() {
  static const ThreadDefault d = read_thread_default();
  return d;
}

// Inside a member of run_team's team a kernel runs on its thread alone (thread_pool.h).
int num_threads() {
  if (in_team()) return 1;
  return thread_count_override > 0 ? thread_count_override : thread_count().load(std::memory_order_relaxed);
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

int parallel_team_size(bool may_back_off) {
  std::atomic<int> size{0};
  auto body = [&](int, int team) {
    team_barrier();  // every member on a thread of its own: a worker that cannot run hangs here
    size.store(team);
  };
  if (may_back_off)
    run_team(num_threads(), body);
  else
    run_team_no_backoff(num_threads(), body);
  return size.load();
}

}  // namespace cnnnative
