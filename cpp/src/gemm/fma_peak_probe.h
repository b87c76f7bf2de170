// The per-ISA FMA loops behind measure_fma_peak (see cnnnative/gemm.h).
#pragma once
#include <cstdint>

namespace cnnnative {
namespace gemm_detail {

// Each runs `iterations` rounds of independent FMA chains held in registers and returns
// the number of floating-point operations done (an FMA counts as 2). `sink` receives a
// value depending on every chain, so the compiler cannot drop the work.
double fma_loop_avx512(int64_t iterations, float* sink);
double fma_loop_avx2(int64_t iterations, float* sink);

}  // namespace gemm_detail
}  // namespace cnnnative
