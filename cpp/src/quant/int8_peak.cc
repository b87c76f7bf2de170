// measure_int8_peak: the int8 multiply-add throughput of the kernel int8_isa() names,
// the yardstick for "% of int8 peak" (see quant.h). Same method as measure_fma_peak:
// calibrate on one thread, then the best of 5 rounds.
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <ctime>

#include "cnnnative/errors.h"
#include "cnnnative/quant.h"
#include "cnnnative/threads.h"
#include "quant/int8_peak_probe.h"

namespace cnnnative::quant {
namespace {

double int8_loop(int64_t iterations, int32_t* sink) {
  const char* isa = int8_isa();
  if (std::strcmp(isa, "avx512_vnni") == 0) return detail::int8_loop_vnni(iterations, sink);
  if (std::strcmp(isa, "avx2") == 0) return detail::int8_loop_avx2(iterations, sink);
  int32_t acc[8] = {0, 1, 2, 3, 4, 5, 6, 7};
  volatile int32_t m = 3;
  const int32_t mv = m;
  for (int64_t it = 0; it < iterations; ++it)
    for (int32_t& a : acc) a = a * mv + 1;
  *sink = acc[0] + acc[7];
  return 2.0 * 8 * static_cast<double>(iterations);
}

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

double thread_cpu_seconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

}  // namespace

double measure_int8_peak(double seconds, int threads, bool thread_cpu_time) {
  CN_CHECK(seconds > 0 && seconds <= 60, "measure_int8_peak: seconds must be in (0, 60], got ", seconds);
  CN_CHECK(threads >= 1 && threads <= 4096, "measure_int8_peak: threads must be >= 1, got ", threads);
  CN_CHECK(!thread_cpu_time || threads == 1,
           "measure_int8_peak: thread CPU time can only time one thread, got threads=", threads);
  int32_t sink = 0;
  int64_t iterations = 1024;
  double elapsed = 0;
  while (true) {
    const double t0 = now_seconds();
    int8_loop(iterations, &sink);
    elapsed = now_seconds() - t0;
    if (elapsed > 0.005 || iterations > (int64_t{1} << 40)) break;
    iterations *= 4;
  }
  const int rounds = 5;
  const int64_t per_round = std::max<int64_t>(1, static_cast<int64_t>(iterations * (seconds / rounds) / elapsed));
  double best = 0;
  for (int round = 0; round < rounds; ++round) {
    if (thread_cpu_time) {
      const double t0 = thread_cpu_seconds();
      const double ops = int8_loop(per_round, &sink);
      best = std::max(best, ops / (thread_cpu_seconds() - t0) / 1e9);
      continue;
    }
    double ops = 0;
    const double t0 = now_seconds();
    const int team = team_for(threads);
#pragma omp parallel num_threads(team) reduction(+ : ops)
    {
      int32_t local_sink = 0;
      ops += int8_loop(per_round, &local_sink);
      if (local_sink == 12345) ops += 0;
    }
    best = std::max(best, ops / (now_seconds() - t0) / 1e9);
  }
  if (sink == 12345) best += 0;
  return best;
}

}  // namespace cnnnative::quant
