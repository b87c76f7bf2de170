// Max pooling with 16 channels per AVX-512 vector (the layout of conv/depthwise_cblock.h):
// the planes are moved into the lanes with a -inf-padded border, each output pixel takes
// the maximum of its window's pixel vectors, and the results are moved back.
//
// Why: the separable kernel (max_pool_separable.h) works one plane row at a time, so on
// the small planes of SqueezeNet, GoogLeNet and Inception (13x13 to 55x55) its per-row
// calls and edge handling dominate (256 planes of 27x27 -> 13x13: 263 us on one thread);
// with channels in the lanes a 3x3 window is 9 vector steps for 16 outputs at any size.
//
// Same rule as the separable kernel: taps in the window's row-major order, a tap replaces
// the running maximum when it is greater or NaN (first maximum wins, NaN propagates).
#pragma once
#include <cstdint>

#include "pool/max_pool_separable.h"

namespace cnnnative {

// Whether it takes w here: the AVX-512 ISA, kernel widths 2 or 3 and heights up to 7,
// equal strides of 1 or 2, windows that each hold an input element, and measured faster
// than the separable kernel for this size (see max_pool_cblock.cc).
bool max_pool_cblock_applies(const MaxPoolWindow& w);

// Tests and benchmarks: 0 the measured rule, 1 never (the separable kernel), 2 wherever
// the window allows.
void force_max_pool_cblock(int mode);

// planes NCHW planes of H x W -> OH x OW (any 16 planes are pooled together: channels and
// images alike), parallel on `threads` threads.
void max_pool_cblock(const MaxPoolWindow& w, const float* x, float* y, int64_t planes, int threads);

}  // namespace cnnnative
