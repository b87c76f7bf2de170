// Depthwise 3-D plane kernels compiled for avx512 (see depthwise3d_kernels_impl.h).
#define DEPTHWISE3D_ISA_NS isa_avx512
#include "conv/depthwise3d_kernels_impl.h"

namespace cnnnative {
namespace conv3d {
const DepthwiseKernels& depthwise_kernels_avx512() { return isa_avx512::table(); }
}  // namespace conv3d
}  // namespace cnnnative
