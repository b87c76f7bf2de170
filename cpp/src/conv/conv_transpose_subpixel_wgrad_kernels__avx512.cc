// Sub-pixel weight-gradient kernels compiled for avx512 (see conv_transpose_subpixel_wgrad_kernels_impl.h).
#define WGRAD_ISA_NS isa_avx512
#include "conv_transpose_subpixel_wgrad_kernels_impl.h"

namespace cnnnative {
namespace subpixel {
const WgradKernels& wgrad_kernels_avx512() { return isa_avx512::table(); }
}  // namespace subpixel
}  // namespace cnnnative
