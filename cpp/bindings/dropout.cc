// dropout forward (returns output and uint8 mask) and backward.
#include <vector>

#include "act/debug_fill.h"
#include "arrays.h"
#include "dropout/dropout.h"
#include "registry.h"

using namespace cnnnative;

namespace {
namespace dropout_binding {  // a name per file: the bindings compile as unity sources

using MaskArray = py::array_t<uint8_t, py::array::c_style | py::array::forcecast>;

std::vector<py::ssize_t> shape_of(const py::array& a) {
  return std::vector<py::ssize_t>(a.shape(), a.shape() + a.ndim());
}

void check_p(double p) {
  CN_CHECK(p >= 0.0 && p < 1.0, "dropout: p must be in [0, 1), got ", p);
}

py::tuple forward(FloatArray x, double p, uint64_t seed) {
  check_p(p);
  const DropoutKey key = make_dropout_key(seed, p);
  FloatArray y(shape_of(x));
  MaskArray mask(shape_of(x));
  const float* px = x.data();
  float* py_ = y.mutable_data();
  poison(py_, static_cast<int64_t>(y.size()));
  uint8_t* pm = mask.mutable_data();
  const int64_t n = x.size();
  {
    py::gil_scoped_release release;
    dropout_forward(px, py_, pm, n, key);
  }
  return py::make_tuple(y, mask);
}

py::array_t<float> backward(FloatArray g, MaskArray mask, double p) {
  check_p(p);
  bool same = g.ndim() == mask.ndim();
  for (py::ssize_t i = 0; same && i < g.ndim(); ++i) same = g.shape(i) == mask.shape(i);
  CN_CHECK(same, "dropout_backward: grad_output has shape ", shape_string(g), " but mask has shape ",
           shape_string(mask));
  const float scale = make_dropout_key(0, p).scale;
  FloatArray gx(shape_of(g));
  const float* pg = g.data();
  const uint8_t* pm = mask.data();
  float* pgx = gx.mutable_data();
  poison(pgx, static_cast<int64_t>(gx.size()));
  const int64_t n = g.size();
  {
    py::gil_scoped_release release;
    dropout_backward(pg, pm, pgx, n, scale);
  }
  return gx;
}

CNNNATIVE_BINDINGS(dropout) {
  m.def("dropout", &forward, py::arg("input"), py::arg("p"), py::arg("seed"),
        "Inverted dropout; returns (output, uint8 mask). Same seed -> same mask.");
  m.def("dropout_backward", &backward, py::arg("grad_output"), py::arg("mask"), py::arg("p"));
}

}  // namespace dropout_binding
}  // namespace
