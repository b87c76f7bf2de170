// Depthwise kernels compiled for avx512 (see depthwise_kernels_impl.h).
#define DEPTHWISE_ISA_NS isa_avx512
#include "depthwise_kernels_impl.h"

namespace cnnnative {
namespace depthwise {
const Kernels& kernels_avx512() { return isa_avx512::table(); }
}  // namespace depthwise
}  // namespace cnnnative
