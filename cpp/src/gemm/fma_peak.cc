// measure_fma_peak: the machine's FP32 FMA throughput, the yardstick for "% of peak".
//
// Every thread runs the best FMA loop this CPU has for the same number of iterations;
// the rate is total flops over the wall time of the slowest thread. The iteration count
// is calibrated on one thread first so the measurement lasts about `seconds` (the harness,
// shared with the int8 and bf16 probes, is core/peak_probe.h).
#include <algorithm>

#include "cnnnative/errors.h"
#include "cnnnative/gemm.h"
#include "cnnnative/isa.h"
#include "cnnnative/threads.h"
#include "core/peak_probe.h"
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

}  // namespace

double measure_fma_peak(double seconds, int threads, bool thread_cpu_time) {
  return measure_peak("measure_fma_peak", seconds, threads, thread_cpu_time, fma_loop);
}

}  // namespace cnnnative
