// Picks the span-kernel table for the active ISA (looked up on every call, so tests
// and benchmarks can switch ISA at run time).
#include "norm/kernels.h"

#include "cnnnative/isa.h"

namespace cnnnative {
namespace norm {

const Kernels& kernels() {
  switch (active_isa()) {
    case Isa::avx512: return kernels_avx512();
    case Isa::avx2: return kernels_avx2();
    case Isa::scalar: break;
  }
  return kernels_scalar();
}

}  // namespace norm
}  // namespace cnnnative
