// max_pool2d, avg_pool2d, global_avg_pool2d and their gradients (NCHW float32).
#include <pybind11/stl.h>

#include <array>

#include "act/debug_fill.h"
#include "arrays.h"
#include "pool_indices.h"
#include "out_array.h"
#include "pool/pool.h"
#include "registry.h"

using namespace cnnnative;

namespace {
namespace pool_binding {  // a name per file: the bindings compile as unity sources

using Pair = std::array<int64_t, 2>;
using Size4 = std::array<int64_t, 4>;

Size4 shape4(const py::array& a, const char* name) {
  require_ndim(a, 4, name);
  return {a.shape(0), a.shape(1), a.shape(2), a.shape(3)};
}

PoolParams make_params(const Size4& in, Pair kernel, Pair stride, Pair padding, Pair dilation, bool ceil_mode,
                       bool count_include_pad, const char* op) {
  PoolParams p;
  p.N = in[0];
  p.C = in[1];
  p.H = in[2];
  p.W = in[3];
  p.kernel_h = kernel[0];
  p.kernel_w = kernel[1];
  p.stride_h = stride[0];
  p.stride_w = stride[1];
  p.pad_h = padding[0];
  p.pad_w = padding[1];
  p.dilation_h = dilation[0];
  p.dilation_w = dilation[1];
  p.ceil_mode = ceil_mode;
  p.count_include_pad = count_include_pad;
  validate_pool_params(p, op);
  return p;
}

void require_grad_output(const py::array& dy, const PoolParams& p, const char* op) {
  require_ndim(dy, 4, "grad_output");
  CN_CHECK(dy.shape(0) == p.N && dy.shape(1) == p.C && dy.shape(2) == p.OH && dy.shape(3) == p.OW, op,
           ": grad_output has shape ", shape_string(dy), " but the pooling output is (", p.N, ", ", p.C,
           ", ", p.OH, ", ", p.OW, ")");
}

py::tuple max_pool2d(FloatArray x, Pair kernel, Pair stride, Pair padding, Pair dilation, bool ceil_mode,
                     bool with_indices) {
  const PoolParams p =
      make_params(shape4(x, "input"), kernel, stride, padding, dilation, ceil_mode, true, "max_pool2d");
  auto y = new_float_array({p.N, p.C, p.OH, p.OW});
  const OptionalIndices idx = optional_indices(with_indices, {p.N, p.C, p.OH, p.OW});
  const float* px = x.data();
  float* py_ = y.mutable_data();
  poison(py_, static_cast<int64_t>(y.size()));
  {
    py::gil_scoped_release release;
    max_pool2d_forward(p, px, py_, idx.data);
  }
  return py::make_tuple(y, idx.array);
}

py::array_t<float> max_pool2d_bwd(FloatArray dy, IndexArray indices, Size4 input_size, py::object out) {
  require_matching_indices(dy, indices, 4, "max_pool2d_backward");
  PoolParams p;
  p.N = input_size[0];
  p.C = input_size[1];
  p.H = input_size[2];
  p.W = input_size[3];
  CN_CHECK(p.N >= 0 && p.C >= 1 && p.H >= 1 && p.W >= 1,
           "max_pool2d_backward: input_size must be (N >= 0, C >= 1, H >= 1, W >= 1), got (", p.N, ", ",
           p.C, ", ", p.H, ", ", p.W, ")");
  checked_numel({p.N, p.C, p.H, p.W}, "max_pool2d_backward: input_size");
  CN_CHECK(dy.shape(0) == p.N && dy.shape(1) == p.C, "max_pool2d_backward: grad_output has shape ",
           shape_string(dy), " but input_size is (", p.N, ", ", p.C, ", ", p.H, ", ", p.W,
           "): batch and channels must match");
  p.OH = dy.shape(2);
  p.OW = dy.shape(3);
  // The kernel zero-fills dx itself, so a reused `out` needs no clearing here.
  py::array_t<float> dx = out.is_none()
                              ? py::array_t<float>(new_float_array({p.N, p.C, p.H, p.W}))
                              : checked_out(out, {p.N, p.C, p.H, p.W}, {}, {&dy, &indices},
                                            "max_pool2d_backward");
  const float* pdy = dy.data();
  const int64_t* pidx = indices.data();
  float* pdx = dx.mutable_data();
  poison(pdx, static_cast<int64_t>(dx.size()));
  {
    py::gil_scoped_release release;
    max_pool2d_backward(p, pdy, pidx, pdx);
  }
  return dx;
}

py::array_t<float> avg_pool2d(FloatArray x, Pair kernel, Pair stride, Pair padding, bool ceil_mode,
                              bool count_include_pad) {
  const PoolParams p = make_params(shape4(x, "input"), kernel, stride, padding, {1, 1}, ceil_mode,
                                   count_include_pad, "avg_pool2d");
  auto y = new_float_array({p.N, p.C, p.OH, p.OW});
  const float* px = x.data();
  float* py_ = y.mutable_data();
  poison(py_, static_cast<int64_t>(y.size()));
  {
    py::gil_scoped_release release;
    avg_pool2d_forward(p, px, py_);
  }
  return y;
}

py::array_t<float> avg_pool2d_bwd(FloatArray dy, Size4 input_size, Pair kernel, Pair stride, Pair padding,
                                  bool ceil_mode, bool count_include_pad) {
  const PoolParams p = make_params(input_size, kernel, stride, padding, {1, 1}, ceil_mode, count_include_pad,
                                   "avg_pool2d_backward");
  require_grad_output(dy, p, "avg_pool2d_backward");
  auto dx = new_float_array({p.N, p.C, p.H, p.W});
  const float* pdy = dy.data();
  float* pdx = dx.mutable_data();
  poison(pdx, static_cast<int64_t>(dx.size()));
  {
    py::gil_scoped_release release;
    avg_pool2d_backward(p, pdy, pdx);
  }
  return dx;
}

py::array_t<float> global_avg(FloatArray x) {
  const Size4 s = shape4(x, "input");
  CN_CHECK(s[2] >= 1 && s[3] >= 1, "global_avg_pool2d: input height and width must be >= 1, got shape ",
           shape_string(x));
  auto y = new_float_array({s[0], s[1], 1, 1});
  const float* px = x.data();
  float* py_ = y.mutable_data();
  poison(py_, static_cast<int64_t>(y.size()));
  {
    py::gil_scoped_release release;
    global_avg_pool2d_forward(px, py_, s[0] * s[1], s[2] * s[3]);
  }
  return y;
}

py::array_t<float> global_avg_bwd(FloatArray dy, Size4 s) {
  CN_CHECK(s[0] >= 0 && s[1] >= 0 && s[2] >= 1 && s[3] >= 1,
           "global_avg_pool2d_backward: input_size must be (N, C, H >= 1, W >= 1), got (", s[0], ", ", s[1],
           ", ", s[2], ", ", s[3], ")");
  checked_numel({s[0], s[1], s[2], s[3]}, "global_avg_pool2d_backward: input_size");
  const Size4 g = shape4(dy, "grad_output");
  CN_CHECK(g[0] == s[0] && g[1] == s[1] && g[2] == 1 && g[3] == 1, "global_avg_pool2d_backward: grad_output has shape ",
           shape_string(dy), ", expected (", s[0], ", ", s[1], ", 1, 1)");
  auto dx = new_float_array({s[0], s[1], s[2], s[3]});
  const float* pdy = dy.data();
  float* pdx = dx.mutable_data();
  poison(pdx, static_cast<int64_t>(dx.size()));
  {
    py::gil_scoped_release release;
    global_avg_pool2d_backward(pdy, pdx, s[0] * s[1], s[2] * s[3]);
  }
  return dx;
}

CNNNATIVE_BINDINGS(pool) {
  m.def("max_pool2d", &max_pool2d, py::arg("input"), py::arg("kernel_size"), py::arg("stride"),
        py::arg("padding"), py::arg("dilation"), py::arg("ceil_mode"), py::arg("return_indices"));
  m.def("max_pool2d_backward", &max_pool2d_bwd, py::arg("grad_output"), py::arg("indices"),
        py::arg("input_size"), py::arg("out") = py::none());
  m.def("avg_pool2d", &avg_pool2d, py::arg("input"), py::arg("kernel_size"), py::arg("stride"),
        py::arg("padding"), py::arg("ceil_mode"), py::arg("count_include_pad"));
  m.def("avg_pool2d_backward", &avg_pool2d_bwd, py::arg("grad_output"), py::arg("input_size"),
        py::arg("kernel_size"), py::arg("stride"), py::arg("padding"), py::arg("ceil_mode"),
        py::arg("count_include_pad"));
  m.def("global_avg_pool2d", &global_avg, py::arg("input"));
  m.def("global_avg_pool2d_backward", &global_avg_bwd, py::arg("grad_output"), py::arg("input_size"));
}

}  // namespace pool_binding
}  // namespace
