// int8 peak probe of the AVX-VNNI kernel's EVEX twin (ymm vpdpbusd, AVX512-VNNI + VL).
#define CN_YMM_PEAK_DPBUSD "vpdpbusd"
#define CN_YMM_PEAK_LOOP int8_loop_avx_vnni_evex
#include "quant/int8_peak_ymm_vnni.h"
