// The AVX-VNNI kernel's body (gemm_s8_ymm_vnni.h) with the EVEX encoding of the same ymm
// vpdpbusd (AVX512-VNNI + AVX512VL): the twin the tests run on AVX-512 machines in place of
// the AVX-VNNI kernel, selected by set_avx2_int8_kernel("avx_vnni_evex") (quant.h) only.
#define CN_YMM_VNNI_NAMESPACE evex
#define CN_YMM_DPBUSD "vpdpbusd"
#define CN_YMM_DPBUSD_REG "v"
#include "quant/gemm_s8_ymm_vnni.h"

namespace cnnnative::quant::detail {

const S8Kernel& s8_kernel_avx_vnni_evex() {
  static const S8Kernel k{"avx_vnni_evex", 2, evex::kMr, evex::kNr, evex::kKg, 1, 1, 512, evex::pack_x, evex::tile};
  return k;
}

}  // namespace cnnnative::quant::detail
