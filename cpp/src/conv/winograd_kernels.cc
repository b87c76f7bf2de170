// Winograd kernels compiled for scalar (see winograd_kernels_impl.h); the GEMM keeps
// 1 row(s) of 32 lanes in registers.
#define WINOGRAD_ISA_NS isa_scalar
#define WINOGRAD_GEMM_MR 1
#include "winograd_kernels_impl.h"

namespace cnnnative {
namespace winograd {
const Kernels& kernels_scalar(int m) { return isa_scalar::table(m); }
}  // namespace winograd
}  // namespace cnnnative
