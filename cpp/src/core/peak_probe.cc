// measure_peak: see peak_probe.h.
#include "core/peak_probe.h"

#include <algorithm>
#include <chrono>
#include <ctime>
#include <vector>

#include "cnnnative/errors.h"
#include "cnnnative/thread_pool.h"
#include "cnnnative/threads.h"

namespace cnnnative {
namespace {

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// CPU time of the calling thread: excludes time the OS gave to other processes.
double thread_cpu_seconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

}  // namespace

double measure_peak(const char* what, double seconds, int threads, bool thread_cpu_time, PeakLoop loop) {
  CN_CHECK(seconds > 0 && seconds <= 60, what, ": seconds must be in (0, 60], got ", seconds);
  CN_CHECK(threads >= 1 && threads <= 4096, what, ": threads must be >= 1, got ", threads);
  CN_CHECK(!thread_cpu_time || threads == 1, what, ": thread CPU time can only time one thread, got threads=",
           threads);
  float sink = 0;
  // Calibrate: grow the iteration count until one run takes a few milliseconds.
  int64_t iterations = 1024;
  double elapsed = 0;
  while (true) {
    const double t0 = now_seconds();
    loop(iterations, &sink);
    elapsed = now_seconds() - t0;
    if (elapsed > 0.005 || iterations > (int64_t{1} << 40)) break;
    iterations *= 4;
  }
  // Split the time into a few rounds and keep the best (least disturbed) one.
  const int rounds = 5;
  const int64_t per_round = std::max<int64_t>(1, static_cast<int64_t>(iterations * (seconds / rounds) / elapsed));
  double best = 0;
  for (int round = 0; round < rounds; ++round) {
    if (thread_cpu_time) {
      const double t0 = thread_cpu_seconds();
      const double ops = loop(per_round, &sink);
      best = std::max(best, ops / (thread_cpu_seconds() - t0) / 1e9);
      continue;
    }
    // The probe's own thread count, by design (the caller asks for 1 and 2 threads).
    // The barrier puts every member on a thread of its own, so they run at the same time.
    std::vector<double> ops(static_cast<size_t>(threads), 0.0);
    const double t0 = now_seconds();
    run_team_no_backoff(threads, [&](int tid, int) {
      team_barrier();
      float local_sink = 0;
      ops[static_cast<size_t>(tid)] = loop(per_round, &local_sink);
      if (local_sink == 12345.f) ops[static_cast<size_t>(tid)] += 0;  // keep local_sink observed
    });
    double total = 0;
    for (double o : ops) total += o;
    best = std::max(best, total / (now_seconds() - t0) / 1e9);
  }
  if (sink == 12345.f) best += 0;
  return best;
}

}  // namespace cnnnative
