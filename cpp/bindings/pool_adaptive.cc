// adaptive_avg_pool and adaptive_max_pool (any output size) and their gradients over
// (N, C, D, H, W) float32; the Python side passes 1-D and 2-D inputs as D = 1 (H = 1) views.
#include <pybind11/stl.h>

#include <array>

#include "act/debug_fill.h"
#include "arrays.h"
#include "pool_indices.h"
#include "pool/adaptive_pool.h"
#include "registry.h"

using namespace cnnnative;

namespace {
namespace pool_adaptive_binding {  // a name per file: the bindings compile as unity sources

using Triple = std::array<int64_t, 3>;
using Size5 = std::array<int64_t, 5>;

AdaptivePoolParams make_params(const Size5& in, const Triple& out, const char* op) {
  CN_CHECK(in[0] >= 0 && in[1] >= 0, op, ": batch and channels must be >= 0, got (", in[0], ", ", in[1], ")");
  AdaptivePoolParams p;
  p.planes = checked_mul(in[0], in[1], op);
  p.D = in[2];
  p.H = in[3];
  p.W = in[4];
  p.OD = out[0];
  p.OH = out[1];
  p.OW = out[2];
  validate_adaptive_pool_params(p, op);
  return p;
}

Size5 shape5(const py::array& a, const char* name) {
  require_ndim(a, 5, name);
  return {a.shape(0), a.shape(1), a.shape(2), a.shape(3), a.shape(4)};
}

void require_grad_output(const py::array& dy, const Size5& in, const AdaptivePoolParams& p, const char* op) {
  require_ndim(dy, 5, "grad_output");
  CN_CHECK(dy.shape(0) == in[0] && dy.shape(1) == in[1] && dy.shape(2) == p.OD && dy.shape(3) == p.OH &&
               dy.shape(4) == p.OW,
           op, ": grad_output has shape ", shape_string(dy), " but the pooling output is (", in[0], ", ", in[1],
           ", ", p.OD, ", ", p.OH, ", ", p.OW, ")");
}

py::array_t<float> adaptive_avg(FloatArray x, Triple output_size) {
  const Size5 in = shape5(x, "input");
  const AdaptivePoolParams p = make_params(in, output_size, "adaptive_avg_pool");
  auto y = new_float_array({in[0], in[1], p.OD, p.OH, p.OW});
  const float* px = x.data();
  float* py_ = y.mutable_data();
  poison(py_, static_cast<int64_t>(y.size()));
  {
    py::gil_scoped_release release;
    adaptive_avg_pool_forward(p, px, py_);
  }
  return y;
}

py::array_t<float> adaptive_avg_bwd(FloatArray dy, Size5 input_size) {
  const Triple out = {dy.ndim() == 5 ? dy.shape(2) : 0, dy.ndim() == 5 ? dy.shape(3) : 0,
                      dy.ndim() == 5 ? dy.shape(4) : 0};
  require_ndim(dy, 5, "grad_output");
  const AdaptivePoolParams p = make_params(input_size, out, "adaptive_avg_pool_backward");
  require_grad_output(dy, input_size, p, "adaptive_avg_pool_backward");
  auto dx = new_float_array({input_size[0], input_size[1], p.D, p.H, p.W});
  const float* pdy = dy.data();
  float* pdx = dx.mutable_data();
  poison(pdx, static_cast<int64_t>(dx.size()));
  {
    py::gil_scoped_release release;
    adaptive_avg_pool_backward(p, pdy, pdx);
  }
  return dx;
}

py::tuple adaptive_max(FloatArray x, Triple output_size, bool with_indices) {
  const Size5 in = shape5(x, "input");
  const AdaptivePoolParams p = make_params(in, output_size, "adaptive_max_pool");
  auto y = new_float_array({in[0], in[1], p.OD, p.OH, p.OW});
  const OptionalIndices idx = optional_indices(with_indices, {in[0], in[1], p.OD, p.OH, p.OW});
  const float* px = x.data();
  float* py_ = y.mutable_data();
  poison(py_, static_cast<int64_t>(y.size()));
  {
    py::gil_scoped_release release;
    adaptive_max_pool_forward(p, px, py_, idx.data);
  }
  return py::make_tuple(y, idx.array);
}

py::array_t<float> adaptive_max_bwd(FloatArray dy, IndexArray indices, Size5 input_size) {
  require_matching_indices(dy, indices, 5, "adaptive_max_pool_backward");
  const AdaptivePoolParams p =
      make_params(input_size, {dy.shape(2), dy.shape(3), dy.shape(4)}, "adaptive_max_pool_backward");
  require_grad_output(dy, input_size, p, "adaptive_max_pool_backward");
  auto dx = new_float_array({input_size[0], input_size[1], p.D, p.H, p.W});
  const float* pdy = dy.data();
  const int64_t* pidx = indices.data();
  float* pdx = dx.mutable_data();
  poison(pdx, static_cast<int64_t>(dx.size()));
  {
    py::gil_scoped_release release;
    adaptive_max_pool_backward(p, pdy, pidx, pdx);
  }
  return dx;
}

CNNNATIVE_BINDINGS(pool_adaptive) {
  m.def("adaptive_avg_pool", &adaptive_avg, py::arg("input"), py::arg("output_size"));
  m.def("adaptive_avg_pool_backward", &adaptive_avg_bwd, py::arg("grad_output"), py::arg("input_size"));
  m.def("adaptive_max_pool", &adaptive_max, py::arg("input"), py::arg("output_size"), py::arg("return_indices"));
  m.def("adaptive_max_pool_backward", &adaptive_max_bwd, py::arg("grad_output"), py::arg("indices"),
        py::arg("input_size"));
}

}  // namespace pool_adaptive_binding
}  // namespace
