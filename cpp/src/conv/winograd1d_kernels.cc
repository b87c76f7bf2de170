// 1-D Winograd transforms compiled for scalar (see winograd1d_kernels_impl.h).
#define WINOGRAD1D_ISA_NS isa_scalar
#include "winograd1d_kernels_impl.h"

namespace cnnnative {
namespace winograd1d {
const Kernels& kernels_scalar(int m) { return isa_scalar::table(m); }
}  // namespace winograd1d
}  // namespace cnnnative
