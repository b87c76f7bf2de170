// Sub-pixel weight-gradient kernels compiled for avx2 (see conv_transpose_subpixel_wgrad_kernels_impl.h).
#define WGRAD_ISA_NS isa_avx2
#include "conv_transpose_subpixel_wgrad_kernels_impl.h"

namespace cnnnative {
namespace subpixel {
const WgradKernels& wgrad_kernels_avx2() { return isa_avx2::table(); }
}  // namespace subpixel
}  // namespace cnnnative
