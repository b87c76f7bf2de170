// Depthwise 3-D plane kernels compiled for avx2 (see depthwise3d_kernels_impl.h).
#define DEPTHWISE3D_ISA_NS isa_avx2
#include "conv/depthwise3d_kernels_impl.h"

namespace cnnnative {
namespace conv3d {
const DepthwiseKernels& depthwise_kernels_avx2() { return isa_avx2::table(); }
}  // namespace conv3d
}  // namespace cnnnative
