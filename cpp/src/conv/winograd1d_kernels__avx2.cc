// 1-D Winograd transforms compiled for avx2 (see winograd1d_kernels_impl.h).
#define WINOGRAD1D_ISA_NS isa_avx2
#include "winograd1d_kernels_impl.h"

namespace cnnnative {
namespace winograd1d {
const Kernels& kernels_avx2(int m) { return isa_avx2::table(m); }
}  // namespace winograd1d
}  // namespace cnnnative
