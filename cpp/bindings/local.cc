// Locally connected (unshared) 2-D convolution: forward and its gradients.
#include <pybind11/stl.h>

#include <array>
#include <optional>

#include "act/debug_fill.h"
#include "arrays.h"
#include "local/locally_connected.h"
#include "registry.h"

using namespace cnnnative;
using Pair = std::array<int64_t, 2>;
using Quad = std::array<int64_t, 4>;

namespace {
namespace local_binding {  // a name per file: the bindings compile as unity sources

// The geometry of `input` under kernel/stride/padding, and a check that `weight` is the
// (OH*OW, out_channels, C*kH*kW) bank that geometry needs.
LocalGeometry geometry_for(const py::array& x, const py::array& w, Pair kernel, Pair stride, Quad padding) {
  require_ndim(x, 4, "input");
  require_ndim(w, 3, "weight");
  LocalGeometry g{};
  g.N = x.shape(0);
  g.C = x.shape(1);
  g.H = x.shape(2);
  g.W = x.shape(3);
  g.K = w.shape(1);
  g.kH = kernel[0];
  g.kW = kernel[1];
  g.sH = stride[0];
  g.sW = stride[1];
  g.pad_top = padding[0];
  g.pad_bottom = padding[1];
  g.pad_left = padding[2];
  g.pad_right = padding[3];
  finish_local_geometry(g);
  CN_CHECK(w.shape(0) == g.positions() && w.shape(2) == g.patch(), "locally_connected2d: weight has shape ",
           shape_string(w), " but input ", shape_string(x), " with kernel (", g.kH, ", ", g.kW, "), stride (",
           g.sH, ", ", g.sW, ") gives ", g.OH, "x", g.OW, " positions: expected (", g.positions(), ", ",
           "out_channels, ", g.patch(), ")");
  return g;
}

py::array_t<float> forward(FloatArray x, FloatArray w, std::optional<FloatArray> bias, Pair kernel, Pair stride,
                           Quad padding) {
  const LocalGeometry g = geometry_for(x, w, kernel, stride, padding);
  if (bias) {
    CN_CHECK(bias->ndim() == 3 && bias->shape(0) == g.K && bias->shape(1) == g.OH && bias->shape(2) == g.OW,
             "locally_connected2d: bias must have shape (", g.K, ", ", g.OH, ", ", g.OW, "), got ",
             shape_string(*bias));
  }
  auto y = new_float_array({g.N, g.K, g.OH, g.OW});
  poison(y.mutable_data(), static_cast<int64_t>(y.size()));
  const float *px = x.data(), *pw = w.data(), *pb = bias ? bias->data() : nullptr;
  float* py_ = y.mutable_data();
  {
    py::gil_scoped_release release;
    locally_connected2d_forward(g, px, pw, pb, py_);
  }
  return y;
}

// (grad_input or None, grad_weight or None).
py::tuple backward(FloatArray x, FloatArray w, FloatArray dy, Pair kernel, Pair stride, Quad padding,
                   bool need_input, bool need_weight) {
  const LocalGeometry g = geometry_for(x, w, kernel, stride, padding);
  require_ndim(dy, 4, "grad_output");
  CN_CHECK(dy.shape(0) == g.N && dy.shape(1) == g.K && dy.shape(2) == g.OH && dy.shape(3) == g.OW,
           "locally_connected2d: grad_output has shape ", shape_string(dy), " but the output is (", g.N, ", ",
           g.K, ", ", g.OH, ", ", g.OW, ")");
  py::object gx_obj = py::none(), gw_obj = py::none();
  float *pgx = nullptr, *pgw = nullptr;
  if (need_input) {
    auto gx = new_float_array({g.N, g.C, g.H, g.W});
    pgx = gx.mutable_data();
    poison(pgx, static_cast<int64_t>(gx.size()));
    gx_obj = gx;
  }
  if (need_weight) {
    auto gw = new_float_array({w.shape(0), w.shape(1), w.shape(2)});
    pgw = gw.mutable_data();
    poison(pgw, static_cast<int64_t>(gw.size()));
    gw_obj = gw;
  }
  const float *px = x.data(), *pw = w.data(), *pdy = dy.data();
  {
    py::gil_scoped_release release;
    locally_connected2d_backward(g, px, pw, pdy, pgx, pgw);
  }
  return py::make_tuple(gx_obj, gw_obj);
}

CNNNATIVE_BINDINGS(local) {
  m.def("locally_connected2d", &forward, py::arg("input"), py::arg("weight"), py::arg("bias"),
        py::arg("kernel_size"), py::arg("stride"), py::arg("padding"));
  m.def("locally_connected2d_backward", &backward, py::arg("input"), py::arg("weight"), py::arg("grad_output"),
        py::arg("kernel_size"), py::arg("stride"), py::arg("padding"), py::arg("need_input"),
        py::arg("need_weight"));
}

}  // namespace local_binding
}  // namespace
