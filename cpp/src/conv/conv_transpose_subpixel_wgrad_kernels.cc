// Sub-pixel weight-gradient kernels compiled for scalar (see conv_transpose_subpixel_wgrad_kernels_impl.h).
#define WGRAD_ISA_NS isa_scalar
#include "conv_transpose_subpixel_wgrad_kernels_impl.h"

namespace cnnnative {
namespace subpixel {
const WgradKernels& wgrad_kernels_scalar() { return isa_scalar::table(); }
}  // namespace subpixel
}  // namespace cnnnative
