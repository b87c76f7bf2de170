// The activations a convolution's (or linear layer's) output stage applies beyond ReLU and
// ReLU6: SiLU, Hardswish, GELU (erf and tanh), Sigmoid, Hardsigmoid and PReLU.
//
// ReLU/ReLU6 stay inside each kernel's store code (one max/min per value). The others
// need exp/erfc: rather than teach every store path that math, each kernel stores its
// block with bias and residual only (`stored_by_kernel`) and then runs an
// `ActivationPass` over the rows it has just written, on the same thread, while they are
// in cache -- never a separate pass over the tensor. The pass calls the active ISA's
// elementwise kernels (act/elementwise_body.inl), the very loops the eager ops run, so a
// fused result equals the unfused op's (NaN included) and stays SIMD on every ISA.
#pragma once
#include <cstdint>

#include "act/elementwise.h"
#include "cnnnative/winograd.h"  // Activation, ConvEpilogue

namespace cnnnative {

// The part of `a` a kernel's own store code applies: a itself for none/relu/relu6, else none
// (the ActivationPass applies it after the store).
inline Activation stored_by_kernel(Activation a) {
  return a == Activation::relu || a == Activation::relu6 ? a : Activation::none;
}

struct ActivationPass {
  UnaryKernel fn = nullptr;  // null: nothing to do after the store
  const float* slope = nullptr;
  int64_t slopes = 0;

  explicit operator bool() const { return fn != nullptr; }
  // The kernel's parameters for output channel k (prelu's slope in `a`; unused otherwise).
  ActParams param(int64_t k) const {
    ActParams p;
    p.a = slopes == 0 ? 0.f : slope[slopes == 1 ? 0 : k];
    return p;
  }
  // y[i] = act(y[i]) for i < count, all of output channel k.
  void apply(float* y, int64_t count, int64_t k) const {
    if (fn) fn(y, y, count, param(k));
  }
  // Rows r < rows of a block (row r is output channel k0 + r, `ld` floats apart).
  void apply_rows(float* y, int64_t rows, int64_t cols, int64_t ld, int64_t k0) const {
    if (!fn) return;
    for (int64_t r = 0; r < rows; ++r) fn(y + r * ld, y + r * ld, cols, param(k0 + r));
  }
  // One (N, features) row whose element j is feature j (a linear layer's output).
  void apply_features(float* y, int64_t features) const;
};

// The pass for `ep` under the ISA active now (fn null for none/relu/relu6).
ActivationPass activation_pass(const ConvEpilogue& ep);
// The same for a lone activation (no per-channel slopes).
ActivationPass activation_pass(Activation a, const float* slope = nullptr, int64_t slopes = 0);

}  // namespace cnnnative
