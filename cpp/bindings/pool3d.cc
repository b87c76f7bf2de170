// max_pool3d, avg_pool3d and their gradients (NCDHW float32).
#include <pybind11/stl.h>

#include <array>

#include "act/debug_fill.h"
#include "arrays.h"
#include "pool_indices.h"
#include "pool/pool3d.h"
#include "registry.h"

using namespace cnnnative;

namespace {
namespace pool3d_binding {  // a name per file: the bindings compile as unity sources

using Triple = std::array<int64_t, 3>;
using Size5 = std::array<int64_t, 5>;

Size5 shape5(const py::array& a, const char* name) {
  require_ndim(a, 5, name);
  return {a.shape(0), a.shape(1), a.shape(2), a.shape(3), a.shape(4)};
}

Pool3dParams make_params(const Size5& in, Triple kernel, Triple stride, Triple padding, Triple dilation,
                         bool ceil_mode, bool count_include_pad, const char* op) {
  Pool3dParams p;
  p.N = in[0];
  p.C = in[1];
  p.D = in[2];
  p.H = in[3];
  p.W = in[4];
  for (int a = 0; a < 3; ++a) {
    p.kernel[a] = kernel[a];
    p.stride[a] = stride[a];
    p.pad[a] = padding[a];
    p.dilation[a] = dilation[a];
  }
  p.ceil_mode = ceil_mode;
  p.count_include_pad = count_include_pad;
  validate_pool3d_params(p, op);
  return p;
}

void require_grad_output(const py::array& dy, const Pool3dParams& p, const char* op) {
  require_ndim(dy, 5, "grad_output");
  CN_CHECK(dy.shape(0) == p.N && dy.shape(1) == p.C && dy.shape(2) == p.OD && dy.shape(3) == p.OH &&
               dy.shape(4) == p.OW,
           op, ": grad_output has shape ", shape_string(dy), " but the pooling output is (", p.N, ", ", p.C, ", ",
           p.OD, ", ", p.OH, ", ", p.OW, ")");
}

py::tuple max_pool3d(FloatArray x, Triple kernel, Triple stride, Triple padding, Triple dilation, bool ceil_mode,
                     bool with_indices) {
  const Pool3dParams p =
      make_params(shape5(x, "input"), kernel, stride, padding, dilation, ceil_mode, true, "max_pool3d");
  auto y = new_float_array({p.N, p.C, p.OD, p.OH, p.OW});
  const OptionalIndices idx = optional_indices(with_indices, {p.N, p.C, p.OD, p.OH, p.OW});
  const float* px = x.data();
  float* py_ = y.mutable_data();
  poison(py_, static_cast<int64_t>(y.size()));
  {
    py::gil_scoped_release release;
    max_pool3d_forward(p, px, py_, idx.data);
  }
  return py::make_tuple(y, idx.array);
}

py::array_t<float> max_pool3d_bwd(FloatArray dy, IndexArray indices, Size5 input_size) {
  require_matching_indices(dy, indices, 5, "max_pool3d_backward");
  Pool3dParams p;
  p.N = input_size[0];
  p.C = input_size[1];
  p.D = input_size[2];
  p.H = input_size[3];
  p.W = input_size[4];
  CN_CHECK(p.N >= 0 && p.C >= 1 && p.D >= 1 && p.H >= 1 && p.W >= 1,
           "max_pool3d_backward: input_size must be (N >= 0, C, D, H, W >= 1), got (", p.N, ", ", p.C, ", ", p.D,
           ", ", p.H, ", ", p.W, ")");
  checked_numel({p.N, p.C, p.D, p.H, p.W}, "max_pool3d_backward: input_size");
  CN_CHECK(dy.shape(0) == p.N && dy.shape(1) == p.C, "max_pool3d_backward: grad_output has shape ",
           shape_string(dy), " but input_size is (", p.N, ", ", p.C, ", ", p.D, ", ", p.H, ", ", p.W,
           "): batch and channels must match");
  p.OD = dy.shape(2);
  p.OH = dy.shape(3);
  p.OW = dy.shape(4);
  auto dx = new_float_array({p.N, p.C, p.D, p.H, p.W});
  const float* pdy = dy.data();
  const int64_t* pidx = indices.data();
  float* pdx = dx.mutable_data();
  poison(pdx, static_cast<int64_t>(dx.size()));
  {
    py::gil_scoped_release release;
    max_pool3d_backward(p, pdy, pidx, pdx);
  }
  return dx;
}

py::array_t<float> avg_pool3d(FloatArray x, Triple kernel, Triple stride, Triple padding, bool ceil_mode,
                              bool count_include_pad) {
  const Pool3dParams p = make_params(shape5(x, "input"), kernel, stride, padding, {1, 1, 1}, ceil_mode,
                                     count_include_pad, "avg_pool3d");
  auto y = new_float_array({p.N, p.C, p.OD, p.OH, p.OW});
  const float* px = x.data();
  float* py_ = y.mutable_data();
  poison(py_, static_cast<int64_t>(y.size()));
  {
    py::gil_scoped_release release;
    avg_pool3d_forward(p, px, py_);
  }
  return y;
}

py::array_t<float> avg_pool3d_bwd(FloatArray dy, Size5 input_size, Triple kernel, Triple stride, Triple padding,
                                  bool ceil_mode, bool count_include_pad) {
  const Pool3dParams p = make_params(input_size, kernel, stride, padding, {1, 1, 1}, ceil_mode, count_include_pad,
                                     "avg_pool3d_backward");
  require_grad_output(dy, p, "avg_pool3d_backward");
  auto dx = new_float_array({p.N, p.C, p.D, p.H, p.W});
  const float* pdy = dy.data();
  float* pdx = dx.mutable_data();
  poison(pdx, static_cast<int64_t>(dx.size()));
  {
    py::gil_scoped_release release;
    avg_pool3d_backward(p, pdy, pdx);
  }
  return dx;
}

CNNNATIVE_BINDINGS(pool3d) {
  m.def("max_pool3d", &max_pool3d, py::arg("input"), py::arg("kernel_size"), py::arg("stride"), py::arg("padding"),
        py::arg("dilation"), py::arg("ceil_mode"), py::arg("return_indices"));
  m.def("max_pool3d_backward", &max_pool3d_bwd, py::arg("grad_output"), py::arg("indices"), py::arg("input_size"));
  m.def("avg_pool3d", &avg_pool3d, py::arg("input"), py::arg("kernel_size"), py::arg("stride"), py::arg("padding"),
        py::arg("ceil_mode"), py::arg("count_include_pad"));
  m.def("avg_pool3d_backward", &avg_pool3d_bwd, py::arg("grad_output"), py::arg("input_size"),
        py::arg("kernel_size"), py::arg("stride"), py::arg("padding"), py::arg("ceil_mode"),
        py::arg("count_include_pad"));
}

}  // namespace pool3d_binding
}  // namespace
