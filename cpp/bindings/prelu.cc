// prelu(x, weight) and prelu_backward: one learned negative slope per channel (dim 1), or
// one shared slope (weight of one element), as torch.nn.functional.prelu.
#include <vector>

#include "act/debug_fill.h"
#include "act/prelu.h"
#include "arrays.h"
#include "out_array.h"
#include "registry.h"

using namespace cnnnative;

namespace {
namespace prelu_binding {  // a name per file: the bindings compile as unity sources

// x viewed as (outer, C, inner) around dim 1 with C the slope count (C = 1 for a shared slope).
struct PreluView {
  int64_t outer = 1, C = 1, inner = 1;
};

PreluView view_for(const py::array& x, const py::array& weight, const char* op) {
  CN_CHECK(weight.ndim() <= 1, op, ": weight must be a scalar or 1-D, got shape ", shape_string(weight));
  const int64_t slopes = weight.size();
  const int64_t channels = x.ndim() >= 2 ? x.shape(1) : 1;
  CN_CHECK(slopes == 1 || slopes == channels, op, ": weight has ", slopes,
           " elements; it needs 1 (shared) or one per channel (input shape ", shape_string(x),
           ", ", channels, " channels on dim 1)");
  PreluView v;
  const int64_t n = x.size();
  if (slopes == 1 || n == 0) {
    v.inner = n;
    return v;
  }
  v.outer = x.shape(0);
  v.C = channels;
  for (py::ssize_t i = 2; i < x.ndim(); ++i) v.inner *= x.shape(i);
  return v;
}

py::array_t<float> forward(FloatArray x, FloatArray weight) {
  const PreluView v = view_for(x, weight, "prelu");
  auto y = new_float_array(shape_of(x));
  const float *px = x.data(), *pw = weight.data();
  float* py_ = y.mutable_data();
  poison(py_, static_cast<int64_t>(y.size()));
  if (x.size() == 0) return y;
  {
    py::gil_scoped_release release;
    prelu_forward(px, pw, py_, v.outer, v.C, v.inner);
  }
  return y;
}

// Returns (grad_input or None, grad_weight or None); grad_weight has weight's shape.
py::tuple backward(FloatArray g, FloatArray x, FloatArray weight, bool input_grad, bool weight_grad) {
  bool same = g.ndim() == x.ndim();
  for (py::ssize_t i = 0; same && i < g.ndim(); ++i) same = g.shape(i) == x.shape(i);
  CN_CHECK(same, "prelu_backward: grad_output has shape ", shape_string(g), " but input has shape ",
           shape_string(x), "; they must be equal");
  const PreluView v = view_for(x, weight, "prelu_backward");
  py::object gx_obj = py::none(), gw_obj = py::none();
  float *pgx = nullptr, *pgw = nullptr;
  if (input_grad) {
    auto gx = new_float_array(shape_of(x));
    pgx = gx.mutable_data();
    poison(pgx, static_cast<int64_t>(gx.size()));
    gx_obj = gx;
  }
  if (weight_grad) {
    auto gw = new_float_array(shape_of(weight));
    pgw = gw.mutable_data();
    for (py::ssize_t i = 0; i < gw.size(); ++i) pgw[i] = 0.0f;  // the sum over no element
    gw_obj = gw;
  }
  const float *pg = g.data(), *px = x.data(), *pw = weight.data();
  if (x.size() > 0 && (pgx != nullptr || pgw != nullptr)) {
    py::gil_scoped_release release;
    prelu_backward(pg, px, pw, pgx, pgw, v.outer, v.C, v.inner);
  }
  return py::make_tuple(gx_obj, gw_obj);
}

CNNNATIVE_BINDINGS(prelu) {
  m.def("prelu", &forward, py::arg("x"), py::arg("weight"),
        "x where x > 0, else weight[c] * x (c the index on dim 1; a 1-element weight is shared).");
  m.def("prelu_backward", &backward, py::arg("grad_output"), py::arg("x"), py::arg("weight"),
        py::arg("input_grad") = true, py::arg("weight_grad") = true,
        "(grad_input or None, grad_weight or None) of prelu.");
}

}  // namespace prelu_binding
}  // namespace
