// Winograd kernels compiled for avx2 (see winograd_kernels_impl.h); the GEMM keeps
// 3 row(s) of 32 lanes in registers.
#define WINOGRAD_ISA_NS isa_avx2
#define WINOGRAD_GEMM_MR 3
#include "winograd_kernels_impl.h"

namespace cnnnative {
namespace winograd {
const Kernels& kernels_avx2(int m) { return isa_avx2::table(m); }
}  // namespace winograd
}  // namespace cnnnative
