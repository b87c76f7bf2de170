// Winograd kernels compiled for avx512 (see winograd_kernels_impl.h); the GEMM keeps
// 12 row(s) of 32 lanes in registers.
#define WINOGRAD_ISA_NS isa_avx512
#define WINOGRAD_GEMM_MR 12
#include "winograd_kernels_impl.h"

namespace cnnnative {
namespace winograd {
const Kernels& kernels_avx512(int m) { return isa_avx512::table(m); }
}  // namespace winograd
}  // namespace cnnnative
