// linear forward and backward: 2-D (N, in) inputs (the Python side flattens leading dims).
#include <pybind11/stl.h>

#include <optional>

#include "act/debug_fill.h"
#include "arrays.h"
#include "linear/linear.h"
#include "registry.h"

using namespace cnnnative;

namespace {
namespace linear_binding {  // a name per file: the bindings compile as unity sources

void check_weight(const py::array& x, const py::array& w, const char* op) {
  require_ndim(x, 2, "input");
  require_ndim(w, 2, "weight");
  CN_CHECK(x.shape(1) == w.shape(1), op, ": input has ", x.shape(1), " features (shape ", shape_string(x),
           ") but weight expects ", w.shape(1), " (shape ", shape_string(w), ")");
}

py::array_t<float> forward(FloatArray x, FloatArray w, std::optional<FloatArray> bias) {
  check_weight(x, w, "linear");
  const int64_t N = x.shape(0), in = x.shape(1), out = w.shape(0);
  if (bias) {
    CN_CHECK(bias->ndim() == 1 && bias->shape(0) == out, "linear: bias must have shape (", out,
             ",), got ", shape_string(*bias));
  }
  auto y = new_float_array({N, out});
  const float *px = x.data(), *pw = w.data(), *pb = bias ? bias->data() : nullptr;
  float* py_ = y.mutable_data();
  poison(py_, static_cast<int64_t>(y.size()));
  {
    py::gil_scoped_release release;
    linear_forward(px, pw, pb, py_, N, in, out);
  }
  return y;
}

py::tuple backward(FloatArray gy, FloatArray x, FloatArray w, bool need_bias) {
  check_weight(x, w, "linear_backward");
  require_ndim(gy, 2, "grad_output");
  const int64_t N = x.shape(0), in = x.shape(1), out = w.shape(0);
  CN_CHECK(gy.shape(0) == N && gy.shape(1) == out, "linear_backward: grad_output has shape ",
           shape_string(gy), ", expected (", N, ", ", out, ")");
  auto gx = new_float_array({N, in});
  auto gw = new_float_array({out, in});
  py::object gb_obj = py::none();
  float* pgb = nullptr;
  if (need_bias) {
    auto gb = new_float_array({out});
    pgb = gb.mutable_data();
    poison(pgb, static_cast<int64_t>(gb.size()));
    gb_obj = gb;
  }
  const float *pgy = gy.data(), *px = x.data(), *pw = w.data();
  float *pgx = gx.mutable_data(), *pgw = gw.mutable_data();
  poison(pgx, static_cast<int64_t>(gx.size()));
  poison(pgw, static_cast<int64_t>(gw.size()));
  {
    py::gil_scoped_release release;
    linear_backward(pgy, px, pw, pgx, pgw, pgb, N, in, out);
  }
  return py::make_tuple(gx, gw, gb_obj);
}

CNNNATIVE_BINDINGS(linear) {
  m.def("linear", &forward, py::arg("input"), py::arg("weight"), py::arg("bias") = py::none());
  m.def("linear_backward", &backward, py::arg("grad_output"), py::arg("input"), py::arg("weight"),
        py::arg("need_bias"));
}

}  // namespace linear_binding
}  // namespace
