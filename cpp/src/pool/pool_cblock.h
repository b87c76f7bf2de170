// Max and average pooling with 16 channels per AVX-512 vector (the layout of
// conv/depthwise_cblock.h): the planes are moved into the lanes with a padded border (-inf
// for max, 0 for average), each output pixel reduces its window's pixel vectors, and the
// results are moved back.
//
// Why: the per-plane kernels work one plane row at a time, so on the small planes of
// SqueezeNet, GoogLeNet and Inception (8x8 to 55x55) their per-row calls and edge handling
// dominate: 256 planes of 27x27 max-pooled to 13x13 took 263 us on one thread, Inception's
// 3x3 stride-1 average pools 2.5-7.5 ns per output; with channels in the lanes a 3x3 window
// is 9 vector steps for 16 outputs at any size.
//
// Same results as the per-plane kernels: max takes the window's taps in row-major order, a
// tap replacing the running maximum when it is greater or NaN (first maximum wins, NaN
// propagates); average adds the taps in row-major order from 0 (the padding's zeros change
// no sum) and divides by PyTorch's divisor (count_include_pad or not).
#pragma once
#include <cstdint>

#include "pool/max_pool_separable.h"
#include "pool/pool.h"

namespace cnnnative {

// Whether the lanes kernel takes the window here: the AVX-512 ISA, kernel widths 2 or 3 and
// heights up to 7, dilation 1, equal strides of 1 or 2, padding below the kernel (every
// window holds an input element), and measured faster than the per-plane kernel for this
// size (see pool_cblock.cc).
bool max_pool_cblock_applies(const MaxPoolWindow& w);
bool avg_pool_cblock_applies(const PoolParams& p);

// Tests and benchmarks: 0 the measured rule, 1 never (the per-plane kernels), 2 wherever
// the window allows; for max and average pooling alike.
void force_pool_cblock(int mode);
// Whether a layout is forced (mode 1 or 2): then the average pooling's separable 3x3 kernel
// (pool/avg_pool_same3.h) steps aside, so that both forced kernels stay testable.
bool pool_layout_forced();

// planes NCHW planes of H x W -> OH x OW (any 16 planes are pooled together: channels and
// images alike), parallel on `threads` threads.
void max_pool_cblock(const MaxPoolWindow& w, const float* x, float* y, int64_t planes, int threads);
// p.N * p.C planes (p validated, OH and OW set).
void avg_pool_cblock(const PoolParams& p, const float* x, float* y, int threads);

}  // namespace cnnnative
