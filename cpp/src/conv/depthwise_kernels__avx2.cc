// Depthwise kernels compiled for avx2 (see depthwise_kernels_impl.h).
#define DEPTHWISE_ISA_NS isa_avx2
#include "depthwise_kernels_impl.h"

namespace cnnnative {
namespace depthwise {
const Kernels& kernels_avx2() { return isa_avx2::table(); }
}  // namespace depthwise
}  // namespace cnnnative
