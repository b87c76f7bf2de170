// In-place optimizer steps: the fused SGD update, sum_of_squares and scale_.
//
// Arrays updated in place must already be C-contiguous, writeable float32: converting them
// would update a copy and silently lose the step, so anything else is a ValueError.
#include <pybind11/stl.h>

#include <optional>

#include "arrays.h"
#include "optim/sgd.h"
#include "registry.h"

using namespace cnnnative;

namespace {

py::array_t<float> require_inplace(const py::object& obj, const char* name) {
  CN_CHECK(py::isinstance<py::array>(obj), name, " must be a numpy float32 array (updated in place), got ",
           std::string(py::str(py::type::of(obj).attr("__name__"))));
  py::array a = obj.cast<py::array>();
  CN_CHECK(a.dtype().is(py::dtype::of<float>()), name, " must be float32 to be updated in place, got dtype ",
           std::string(py::str(a.dtype())));
  CN_CHECK(a.flags() & py::array::c_style, name, " must be C-contiguous to be updated in place (shape ",
           shape_string(a), ")");
  CN_CHECK(a.writeable(), name, " is read-only; it must be writeable to be updated in place");
  require_aligned(a, name);
  return py::array_t<float>(a);  // same memory: dtype already float32
}

void require_same_shape(const py::array& a, const char* an, const py::array& b, const char* bn) {
  bool same = a.ndim() == b.ndim();
  for (py::ssize_t i = 0; same && i < a.ndim(); ++i) same = a.shape(i) == b.shape(i);
  CN_CHECK(same, "sgd_step: ", an, " has shape ", shape_string(a), " but ", bn, " has shape ", shape_string(b));
}

void sgd_step(py::object param_obj, FloatArray grad, py::object buf_obj, float lr, float momentum,
              float dampening, float weight_decay, bool nesterov, bool first_step) {
  auto param = require_inplace(param_obj, "param");
  require_same_shape(param, "param", grad, "grad");
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
    buf = require_inplace(buf_obj, "momentum_buffer");
    require_same_shape(param, "param", buf, "momentum_buffer");
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
  auto x = require_inplace(x_obj, "x");
  float* px = x.mutable_data();
  const int64_t n = x.size();
  py::gil_scoped_release release;
  scale_inplace(px, n, s);
}

}  // namespace

CNNNATIVE_BINDINGS(optim) {
  m.def("sgd_step", &sgd_step, py::arg("param"), py::arg("grad"), py::arg("momentum_buffer"), py::arg("lr"),
        py::arg("momentum"), py::arg("dampening"), py::arg("weight_decay"), py::arg("nesterov"),
        py::arg("first_step"));
  m.def("sum_of_squares", &sum_sq, py::arg("x"));
  m.def("scale_", &scale_, py::arg("x"), py::arg("s"));
}
