// Depthwise 3-D plane kernels compiled for scalar (see depthwise3d_kernels_impl.h).
#define DEPTHWISE3D_ISA_NS isa_scalar
#include "conv/depthwise3d_kernels_impl.h"

namespace cnnnative {
namespace conv3d {
const DepthwiseKernels& depthwise_kernels_scalar() { return isa_scalar::table(); }
}  // namespace conv3d
}  // namespace cnnnative
