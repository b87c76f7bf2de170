// In-place optimizer steps: the fused SGD update, sum_of_squares and scale_.
//
// Arrays updated in place: see inplace_array.h. The adaptive optimizers are in
// optim_adaptive.cc.
#include <pybind11/stl.h>

#include <optional>

#include "arrays.h"
#include "inplace_array.h"
#include "optim/sgd.h"
#include "registry.h"

using namespace cnnnative;

namespace {
namespace optim_binding {  // a name per file: the bindings compile as unity sources

void sgd_step(py::object param_obj, FloatArray grad, py::object buf_obj, float lr, float momentum,
              float dampening, float weight_decay, bool nesterov, bool first_step) {
  auto param = require_inplace(param_obj, "sgd_step", "param");
  require_same_shape("sgd_step", param, "param", grad, "grad");
  CN_CHECK(lr >= 0.0f, "sgd_step: invalid learning rate lr=", lr, " (must be >= 0)");
  CN_CHECK(momentum >= 0.0f, "sgd_step: invalid momentum ", momentum, " (must be >= 0)");
  CN_CHECK(weight_decay >= 0.0f, "sgd_step: invalid weight_decay ", weight_decay, " (must be >= 0)");
  CN_CHECK(!nesterov || (momentum > 0.0f && dampening == 0.0f),
           "sgd_step: nesterov momentum requires momentum > 0 and dampening == 0, got momentum=", momentum,
           ", dampening=", dampening);
  float* pbuf = nullptr;
  py::array_t<float> buf;
  if (momentum != 0.0f) {
    CN_CHECK(!buf_obj.is_none(), "sgd_step: momentum=", momentum, " needs a momentum_buffer (shape ",
             shape_string(param), ")");
    buf = require_inplace(buf_obj, "sgd_step", "momentum_buffer");
    require_same_shape("sgd_step", param, "param", buf, "momentum_buffer");
    CN_CHECK(buf.data() != param.data(), "sgd_step: momentum_buffer must not be param itself");
    pbuf = buf.mutable_data();
  }
  SgdConfig cfg;
  cfg.lr = lr;
  cfg.momentum = momentum;
  cfg.dampening = dampening;
  cfg.weight_decay = weight_decay;
  cfg.nesterov = nesterov;
  cfg.first_step = first_step;
  float* pp = param.mutable_data();
  const float* pg = grad.data();
  const int64_t n = param.size();
  {
    py::gil_scoped_release release;
    sgd_update(pp, pg, pbuf, n, cfg);
  }
}

double sum_sq(FloatArray x) {
  const float* px = x.data();
  const int64_t n = x.size();
  py::gil_scoped_release release;
  return sum_of_squares(px, n);
}

void scale_(py::object x_obj, float s) {
  auto x = require_inplace(x_obj, "scale_", "x");
  float* px = x.mutable_data();
  const int64_t n = x.size();
  py::gil_scoped_release release;
  scale_inplace(px, n, s);
}

CNNNATIVE_BINDINGS(optim) {
  m.def("sgd_step", &sgd_step, py::arg("param"), py::arg("grad"), py::arg("momentum_buffer"), py::arg("lr"),
        py::arg("momentum"), py::arg("dampening"), py::arg("weight_decay"), py::arg("nesterov"),
        py::arg("first_step"));
  m.def("sum_of_squares", &sum_sq, py::arg("x"));
  m.def("scale_", &scale_, py::arg("x"), py::arg("s"));
}

}  // namespace optim_binding
}  // namespace
