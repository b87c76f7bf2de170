// measure_int8_peak: the int8 multiply-add throughput of the kernel int8_isa() names,
// the yardstick for "% of int8 peak" (see quant.h), timed by core/peak_probe.h.
#include <algorithm>
#include <cstring>

#include "cnnnative/errors.h"
#include "cnnnative/quant.h"
#include "cnnnative/threads.h"
#include "core/peak_probe.h"
#include "quant/int8_peak_probe.h"

namespace cnnnative::quant {
namespace {

double int8_loop(int64_t iterations, int32_t* sink) {
  const char* isa = int8_isa();
  if (std::strcmp(isa, "avx512_vnni") == 0) return detail::int8_loop_vnni(iterations, sink);
  if (std::strcmp(isa, "avx2") == 0) return detail::int8_loop_avx2(iterations, sink);
#ifdef CNNNATIVE_HAVE_AVXVNNI
  if (std::strcmp(isa, "avx_vnni") == 0) return detail::int8_loop_avx_vnni(iterations, sink);
#endif
  if (std::strcmp(isa, "avx_vnni_evex") == 0) return detail::int8_loop_avx_vnni_evex(iterations, sink);
  // Unsigned: the chains wrap (a signed int's overflow is undefined; UBSan found it here).
  uint32_t acc[8] = {0, 1, 2, 3, 4, 5, 6, 7};
  volatile uint32_t m = 3;
  const uint32_t mv = m;
  for (int64_t it = 0; it < iterations; ++it)
    for (uint32_t& a : acc) a = a * mv + 1;
  *sink = static_cast<int32_t>(acc[0] + acc[7]);
  return 2.0 * 8 * static_cast<double>(iterations);
}

// The harness's loop signature (float sink) around the int8 loop.
double int8_loop_for_harness(int64_t iterations, float* sink) {
  int32_t s = 0;
  const double ops = int8_loop(iterations, &s);
  *sink = static_cast<float>(s);
  return ops;
}

}  // namespace

double measure_int8_peak(double seconds, int threads, bool thread_cpu_time) {
  return measure_peak("measure_int8_peak", seconds, threads, thread_cpu_time, int8_loop_for_harness);
}

}  // namespace cnnnative::quant
