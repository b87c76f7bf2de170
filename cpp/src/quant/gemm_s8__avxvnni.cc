// The int8 GEMM kernel for AVX2-class CPUs with AVX-VNNI (VEX-encoded vpdpbusd on ymm):
// gemm_s8_ymm_vnni.h has the body. Compiled only where the compiler knows -mavxvnni
// (CMakeLists.txt), and chosen only where cpuid reports AVX-VNNI (gemm_s8.cc).
#define CN_YMM_VNNI_NAMESPACE vex
#define CN_YMM_DPBUSD "%{vex%} vpdpbusd"  // braces escaped: GCC asm reads {..|..} as dialects
#define CN_YMM_DPBUSD_REG "x"
#include "quant/gemm_s8_ymm_vnni.h"

namespace cnnnative::quant::detail {

const S8Kernel& s8_kernel_avx_vnni() {
  // Layout 2: the AVX512-VNNI kernel's weights. kc = 512: the panel slice is 512 x 16 bytes.
  static const S8Kernel k{"avx_vnni", 2, vex::kMr, vex::kNr, vex::kKg, 1, 1, 512, vex::pack_x, vex::tile};
  return k;
}

}  // namespace cnnnative::quant::detail
