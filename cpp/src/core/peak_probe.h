// The timing harness shared by the throughput probes (FP32 FMA, int8, bf16): the
// yardsticks for "% of peak" in the benchmarks.
//
// `loop(iterations, sink)` runs a probe's independent-instruction loop and returns the
// operations it did (writing a value to *sink so the compiler keeps the work). The harness
// calibrates the iteration count on the calling thread until one run takes a few
// milliseconds, then keeps the best of 5 rounds of about seconds / 5 each: timed by the
// calling thread's CPU time (thread_cpu_time, one thread only: immune to other processes),
// or by wall time over a thread team of `threads`, each running the loop (total
// operations over the slowest thread's time).
#pragma once
#include <cstdint>

namespace cnnnative {

using PeakLoop = double (*)(int64_t iterations, float* sink);

// GFLOP/s (or GOPS); `what` names the probe in argument errors.
double measure_peak(const char* what, double seconds, int threads, bool thread_cpu_time, PeakLoop loop);

}  // namespace cnnnative
