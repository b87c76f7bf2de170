// Picks the kernel table for the ISA active now (looked up on every call, so tests and
// benchmarks can switch paths at run time).
#pragma once
#include "cnnnative/isa.h"

namespace cnnnative {

template <typename Table>
const Table& table_for_active_isa(const Table& scalar, const Table& avx2, const Table& avx512) {
  switch (active_isa()) {
    case Isa::avx512: return avx512;
    case Isa::avx2: return avx2;
    default: return scalar;
  }
}

}  // namespace cnnnative
