// measure_fma_peak: the machine's FP32 FMA throughput, the yardstick for "% of peak".
//
// Every thread runs the best FMA loop this CPU has for the same number of iterations;
// the rate is total flops over the wall time of the slowest thread. The iteration count
// is calibrated on one thread first so the measurement lasts about `seconds`.
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <ctime>

#include "cnnnative/errors.h"
#include "cnnnative/gemm.h"
#include "cnnnative/isa.h"
#include "cnnnative/threads.h"
#include "gemm/fma_peak_probe.h"

namespace cnnnative {
namespace {

double fma_loop(int64_t iterations, float* sink) {
  if (cpu_supports(Isa::avx512)) return gemm_detail::fma_loop_avx512(iterations, sink);
  if (cpu_supports(Isa::avx2)) return gemm_detail::fma_loop_avx2(iterations, sink);
  // No vector FMA: a scalar multiply-add chain (the scalar kernels' ceiling).
  float acc[8] = {0, 1, 2, 3, 4, 5, 6, 7};
  for (int64_t it = 0; it < iterations; ++it)
    for (float& a : acc) a = a * 0.999999f + 1e-7f;
  *sink = acc[0] + acc[7];
  return 2.0 * 8 * static_cast<double>(iterations);
}

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

double measure_fma_peak(double seconds, int threads, bool thread_cpu_time) {
  CN_CHECK(seconds > 0 && seconds <= 60, "measure_fma_peak: seconds must be in (0, 60], got ", seconds);
  CN_CHECK(threads >= 1 && threads <= 4096, "measure_fma_peak: threads must be >= 1, got ", threads);
  CN_CHECK(!thread_cpu_time || threads == 1,
           "measure_fma_peak: thread CPU time can only time one thread, got threads=", threads);
  float sink = 0;
  // Calibrate: grow the iteration count until one run takes a few milliseconds.
  int64_t iterations = 1024;
  double elapsed = 0;
  while (true) {
    const double t0 = now_seconds();
    fma_loop(iterations, &sink);
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
      const double flops = fma_loop(per_round, &sink);
      best = std::max(best, flops / (thread_cpu_seconds() - t0) / 1e9);
      continue;
    }
    double flops = 0;
    const double t0 = now_seconds();
    // The probe's own thread count, by design (the caller asks for 1 and 2 threads),
    // except on a thread whose OpenMP pool was lost in fork (see threads.h).
    const int team = team_for(threads);
#pragma omp parallel num_threads(team) reduction(+ : flops)
    {
      float local_sink = 0;
      flops += fma_loop(per_round, &local_sink);
      if (local_sink == 12345.f) flops += 0;  // keep local_sink observed
    }
    const double dt = now_seconds() - t0;
    best = std::max(best, flops / dt / 1e9);
  }
  if (sink == 12345.f) best += 0;
  return best;
}

}  // namespace cnnnative
