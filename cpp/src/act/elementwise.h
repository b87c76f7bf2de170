// Elementwise activations and their gradients: one table of kernels per ISA.
//
// Each kernel handles a contiguous range on the calling thread; act/elementwise.cc splits
// big arrays across threads and picks the table for active_isa() on every call.
#pragma once
#include <cstdint>

namespace cnnnative {

enum class UnaryOp {
  relu, relu6, leaky_relu, sigmoid, tanh, silu, gelu, gelu_tanh, hardswish, hardsigmoid,
  elu, softplus, hardtanh, threshold, mish, softsign, log_sigmoid, count
};
// Binary ops take (a, b) -> y. For gradients a is grad_output and b is what the forward
// saved (its output, or its input for leaky_relu and the ops from silu on).
enum class BinaryOp {
  add, add_relu, relu_backward, relu6_backward, leaky_relu_backward, sigmoid_backward,
  tanh_backward, silu_backward, gelu_backward, gelu_tanh_backward, hardswish_backward,
  hardsigmoid_backward, elu_backward, softplus_backward, hardtanh_backward, threshold_backward,
  mish_backward, softsign_backward, log_sigmoid_backward, count
};

// The scalar parameters of an op, by position (unused ones are ignored):
//   leaky_relu: a = negative slope
//   elu (ELU, SELU and CELU): a = alpha * scale, b = scale, c = input_scale, i.e.
//       x > 0 ? b * x : a * expm1(c * x)  (PyTorch's negcoef, poscoef, negiptcoef)
//   softplus: a = beta, b = threshold;  hardtanh: a = min_val, b = max_val;
//   threshold: a = threshold, b = value.
struct ActParams {
  float a = 0.0f, b = 0.0f, c = 0.0f;
};

using UnaryKernel = void (*)(const float* x, float* y, int64_t n, const ActParams& p);
using BinaryKernel = void (*)(const float* a, const float* b, float* y, int64_t n, const ActParams& p);
// PReLU's backward over n elements that share one slope: writes gx (when not null) and
// returns the sum of the slope's gradient terms (x > 0 ? 0 : x * g) over them.
using PreluBackwardKernel = double (*)(const float* g, const float* x, float* gx, int64_t n, float slope);

struct ElementwiseKernels {
  UnaryKernel unary[static_cast<int>(UnaryOp::count)];
  BinaryKernel binary[static_cast<int>(BinaryOp::count)];
  PreluBackwardKernel prelu_backward;
};

extern const ElementwiseKernels elementwise_kernels_scalar;
extern const ElementwiseKernels elementwise_kernels_avx2;
extern const ElementwiseKernels elementwise_kernels_avx512;

// The table for the ISA active now.
const ElementwiseKernels& elementwise_kernels();

// Multi-threaded entry points (the GIL must already be released).
void elementwise_unary(UnaryOp op, const float* x, float* y, int64_t n, const ActParams& p = {});
void elementwise_binary(BinaryOp op, const float* a, const float* b, float* y, int64_t n,
                        const ActParams& p = {});

}  // namespace cnnnative
