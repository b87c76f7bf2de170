// cross_entropy forward (per-row losses) and backward, with label checks.
#include <pybind11/stl.h>

#include <optional>

#include "act/debug_fill.h"
#include "arrays.h"
#include "loss/cross_entropy.h"
#include "registry.h"

using namespace cnnnative;

namespace {

void check_inputs(const py::array& x, const IndexArray& target, const char* op) {
  require_ndim(x, 2, "input");
  require_ndim(target, 1, "target");
  CN_CHECK(x.shape(1) >= 1, op, ": input must have at least one class, got shape ", shape_string(x));
  CN_CHECK(target.shape(0) == x.shape(0), op, ": target has ", target.shape(0), " labels but input has ",
           x.shape(0), " rows (shape ", shape_string(x), ")");
  const int64_t* t = target.data();
  const int64_t C = x.shape(1);
  for (int64_t i = 0; i < target.shape(0); ++i)
    CN_CHECK(t[i] >= 0 && t[i] < C, op, ": target[", i, "] = ", t[i], " is not a class index in [0, ", C,
             ")");
}

// Per-row losses (N,) float32; the Python side reduces them in float64.
py::array_t<float> forward(FloatArray x, IndexArray target) {
  check_inputs(x, target, "cross_entropy");
  const int64_t N = x.shape(0), C = x.shape(1);
  auto loss = new_float_array({N});
  const float* px = x.data();
  const int64_t* pt = target.data();
  float* pl = loss.mutable_data();
  poison(pl, static_cast<int64_t>(loss.size()));
  {
    py::gil_scoped_release release;
    cross_entropy_forward(px, pt, N, C, pl);
  }
  return loss;
}

// grad_input = (softmax(x) - onehot) * scale, where scale is a number or one per row.
py::array_t<float> backward(FloatArray x, IndexArray target, float scale, std::optional<FloatArray> row_scale) {
  check_inputs(x, target, "cross_entropy_backward");
  const int64_t N = x.shape(0), C = x.shape(1);
  if (row_scale) {
    require_ndim(*row_scale, 1, "grad");
    CN_CHECK(row_scale->shape(0) == N, "cross_entropy_backward: grad has shape ", shape_string(*row_scale),
             " but there are ", N, " rows");
  }
  auto gx = new_float_array({N, C});
  const float* px = x.data();
  const int64_t* pt = target.data();
  const float* prs = row_scale ? row_scale->data() : nullptr;
  float* pg = gx.mutable_data();
  poison(pg, static_cast<int64_t>(gx.size()));
  {
    py::gil_scoped_release release;
    cross_entropy_backward(px, pt, N, C, prs, scale, pg);
  }
  return gx;
}

}  // namespace

CNNNATIVE_BINDINGS(loss) {
  m.def("cross_entropy_rows", &forward, py::arg("input"), py::arg("target"),
        "Per-row cross-entropy losses (N,) of logits (N, classes) and labels (N,).");
  m.def("cross_entropy_backward", &backward, py::arg("input"), py::arg("target"), py::arg("scale"),
        py::arg("row_scale") = py::none());
}
