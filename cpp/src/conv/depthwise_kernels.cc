// Depthwise kernels compiled for scalar (see depthwise_kernels_impl.h).
#define DEPTHWISE_ISA_NS isa_scalar
#include "depthwise_kernels_impl.h"

namespace cnnnative {
namespace depthwise {
const Kernels& kernels_scalar() { return isa_scalar::table(); }
}  // namespace depthwise
}  // namespace cnnnative
