// Temporary: the AVX2 and AVX512-VNNI kernels are the scalar one until they land.
#include "quant/gemm_s8_kernels.h"
namespace cnnnative::quant::detail {
const S8Kernel& s8_kernel_avx2() { return s8_kernel_scalar(); }
const S8Kernel& s8_kernel_avx512_vnni() { return s8_kernel_scalar(); }
}  // namespace cnnnative::quant::detail
