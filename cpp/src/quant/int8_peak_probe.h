// The per-ISA loops behind measure_int8_peak (see cnnnative/quant.h).
#pragma once
#include <cstdint>

namespace cnnnative::quant::detail {

// Each runs `iterations` rounds of independent int8 dot-product chains held in registers
// and returns the operations done (a multiply-add counts as 2); `sink` depends on all.
double int8_loop_vnni(int64_t iterations, int32_t* sink);
double int8_loop_avx2(int64_t iterations, int32_t* sink);
double int8_loop_avx_vnni(int64_t iterations, int32_t* sink);       // built with CNNNATIVE_HAVE_AVXVNNI
double int8_loop_avx_vnni_evex(int64_t iterations, int32_t* sink);

}  // namespace cnnnative::quant::detail
