// The post-store activation pass of the conv/linear epilogues (see epilogue_activation.h).
#include "act/epilogue_activation.h"

#include "act/isa_table.h"

namespace cnnnative {

ActivationPass activation_pass(Activation a, const float* slope, int64_t slopes) {
  ActivationPass pass;
  UnaryOp op;
  switch (a) {
    case Activation::silu: op = UnaryOp::silu; break;
    case Activation::hardswish: op = UnaryOp::hardswish; break;
    case Activation::gelu: op = UnaryOp::gelu; break;
    case Activation::gelu_tanh: op = UnaryOp::gelu_tanh; break;
    case Activation::sigmoid: op = UnaryOp::sigmoid; break;
    case Activation::hardsigmoid: op = UnaryOp::hardsigmoid; break;
    case Activation::prelu: op = UnaryOp::leaky_relu; break;  // x > 0 ? x : x * slope
    default: return pass;                                     // none / relu / relu6: in the store
  }
  const ElementwiseKernels& table =
      table_for_active_isa(elementwise_kernels_scalar, elementwise_kernels_avx2, elementwise_kernels_avx512);
  pass.fn = table.unary[static_cast<int>(op)];
  if (a == Activation::prelu) {
    pass.slope = slope;
    pass.slopes = slopes;
  }
  return pass;
}

ActivationPass activation_pass(const ConvEpilogue& ep) {
  return activation_pass(ep.activation, ep.slope, ep.slopes);
}

void ActivationPass::apply_features(float* y, int64_t features) const {
  if (!fn) return;
  if (slopes <= 1) {
    fn(y, y, features, param(0));
    return;
  }
  // prelu with one slope per feature: the same product as the elementwise kernel's.
  for (int64_t j = 0; j < features; ++j) y[j] = y[j] > 0.f ? y[j] : y[j] * slope[j];
}

}  // namespace cnnnative
