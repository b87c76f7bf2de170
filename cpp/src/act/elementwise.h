// Elementwise activations and their gradients: one table of kernels per ISA.
//
// Each kernel handles a contiguous range on the calling thread; act/elementwise.cc splits
// big arrays across threads and picks the table for active_isa() on every call.
#pragma once
#include <cstdint>

namespace cnnnative {

enum class UnaryOp {
  relu, relu6, leaky_relu, sigmoid, tanh, silu, gelu, gelu_tanh, hardswish, hardsigmoid, count
};
// Binary ops take (a, b) -> y. For gradients a is grad_output and b is what the forward
// saved (its output, or its input for leaky_relu and the ops from silu on).
enum class BinaryOp {
  add, add_relu, relu_backward, relu6_backward, leaky_relu_backward, sigmoid_backward,
  tanh_backward, silu_backward, gelu_backward, gelu_tanh_backward, hardswish_backward,
  hardsigmoid_backward, count
};

using UnaryKernel = void (*)(const float* x, float* y, int64_t n, float param);
using BinaryKernel = void (*)(const float* a, const float* b, float* y, int64_t n, float param);

struct ElementwiseKernels {
  UnaryKernel unary[static_cast<int>(UnaryOp::count)];
  BinaryKernel binary[static_cast<int>(BinaryOp::count)];
};

extern const ElementwiseKernels elementwise_kernels_scalar;
extern const ElementwiseKernels elementwise_kernels_avx2;
extern const ElementwiseKernels elementwise_kernels_avx512;

// Multi-threaded entry points (the GIL must already be released). `param` is the
// negative slope for leaky_relu and unused otherwise.
void elementwise_unary(UnaryOp op, const float* x, float* y, int64_t n, float param);
void elementwise_binary(BinaryOp op, const float* a, const float* b, float* y, int64_t n, float param);

}  // namespace cnnnative
