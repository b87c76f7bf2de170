// int8 peak probe, AVX-VNNI (VEX-encoded ymm vpdpbusd): int8_peak_ymm_vnni.h.
#define CN_YMM_PEAK_DPBUSD "%{vex%} vpdpbusd"  // braces escaped: GCC asm reads {..|..} as dialects
#define CN_YMM_PEAK_LOOP int8_loop_avx_vnni
#include "quant/int8_peak_ymm_vnni.h"
