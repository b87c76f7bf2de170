// Outputs of the convolution bindings (conv, conv3d, conv_transpose, fastconv). Under
// CNNNATIVE_DEBUG_NAN (tests) they start as NaN, so an element a kernel forgets to write
// shows up instead of passing as whatever the allocator left there.
#pragma once
#include <algorithm>
#include <limits>

#include "arrays.h"
#include "conv/im2col.h"

namespace cnnnative {

inline void poison_for_debug(FloatArray& a) {
  if (im2col::debug_nan_enabled())
    std::fill(a.mutable_data(), a.mutable_data() + a.size(), std::numeric_limits<float>::quiet_NaN());
}

// The bias gradient a weight-gradient binding returns: a new (K,) array and where to write
// it when the caller asked for one (with_bias), else None and null.
struct BiasGradientOutput {
  py::object array = py::none();
  float* data = nullptr;
};

inline BiasGradientOutput bias_gradient_output(bool with_bias, int64_t K) {
  BiasGradientOutput out;
  if (!with_bias) return out;
  FloatArray db = new_float_array({K});
  poison_for_debug(db);
  out.data = db.mutable_data();
  out.array = db;
  return out;
}

}  // namespace cnnnative
