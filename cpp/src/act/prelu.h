// PReLU: y = x where x > 0, else weight[c] * x, with x viewed as (outer, C, inner) and one
// learned slope per channel c (C == 1: one slope shared by every element).
//
// The per-ISA kernels are the elementwise table's (leaky_relu for the forward, one slope per
// run of `inner` elements; prelu_backward for both gradients); these drivers split the work
// across threads and walk the channel runs.
#pragma once
#include <cstdint>

namespace cnnnative {

void prelu_forward(const float* x, const float* weight, float* y, int64_t outer, int64_t C,
                   int64_t inner);

// grad_input into gx and the slope gradients into gw (C entries); either may be null when
// that gradient is not wanted. The weight gradient sums x * g over x <= 0 (NaN x gives NaN).
void prelu_backward(const float* g, const float* x, const float* weight, float* gx, float* gw,
                    int64_t outer, int64_t C, int64_t inner);

}  // namespace cnnnative
