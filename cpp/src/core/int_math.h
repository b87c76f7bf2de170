// Integer helpers for sizes and geometry.
#pragma once
#include <cstdint>

namespace cnnnative {

// ceil(a / b) for a >= 0, b > 0, without the a + b - 1 that overflows when b is huge (a
// stride of 2**62). static: per-ISA sources include this, and each keeps its own copy.
static inline constexpr int64_t ceil_div(int64_t a, int64_t b) { return a / b + (a % b != 0); }

}  // namespace cnnnative
