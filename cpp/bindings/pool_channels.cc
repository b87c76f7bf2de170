// Cross-channel pooling (maxout): max_pool_channels, avg_pool_channels and their gradients
// over (N, C, ...) float32, k consecutive channels per group.
#include <pybind11/stl.h>

#include <vector>

#include "act/debug_fill.h"
#include "arrays.h"
#include "pool/channel_pool.h"
#include "registry.h"

using namespace cnnnative;

namespace {
namespace pool_channels_binding {  // a name per file: the bindings compile as unity sources

using PieceArray = KernelArray<int32_t>;

// (groups, S) of an (N, C, ...) array pooled k channels at a time; C % k is a ValueError.
struct Geometry {
  int64_t groups, S;
  std::vector<int64_t> out_shape;
};

Geometry geometry(const py::array& x, int64_t k, const char* op) {
  CN_CHECK(x.ndim() >= 2, op, ": input must be (N, C, ...) with at least 2 dimensions, got shape ", shape_string(x));
  CN_CHECK(k >= 1, op, ": kernel_size (channels per group) must be >= 1, got ", k);
  const int64_t C = x.shape(1);
  CN_CHECK(C % k == 0, op, ": kernel_size ", k, " does not divide the ", C, " input channels (shape ",
           shape_string(x), ")");
  Geometry g{x.shape(0) * (C / k), 1, {}};
  for (py::ssize_t i = 2; i < x.ndim(); ++i) g.S = checked_mul(g.S, x.shape(i), op);
  for (py::ssize_t i = 0; i < x.ndim(); ++i) g.out_shape.push_back(i == 1 ? C / k : x.shape(i));
  return g;
}

void require_same_shape(const py::array& a, const std::vector<int64_t>& shape, const char* name, const char* op) {
  bool same = a.ndim() == static_cast<py::ssize_t>(shape.size());
  for (size_t i = 0; same && i < shape.size(); ++i) same = a.shape(i) == shape[i];
  std::string want = "(";
  for (size_t i = 0; i < shape.size(); ++i) want += (i ? ", " : "") + std::to_string(shape[i]);
  CN_CHECK(same, op, ": ", name, " has shape ", shape_string(a), ", expected ", want, ")");
}

py::tuple max_pool_channels(FloatArray x, int64_t k, bool with_indices) {
  const Geometry g = geometry(x, k, "max_pool_channels");
  auto y = new_float_array(g.out_shape);
  py::object idx_obj = py::none();
  int32_t* pidx = nullptr;
  if (with_indices) {
    PieceArray idx(std::vector<py::ssize_t>(g.out_shape.begin(), g.out_shape.end()));
    pidx = idx.mutable_data();
    if (debug_fill())
      for (py::ssize_t i = 0; i < idx.size(); ++i) pidx[i] = -1;
    idx_obj = idx;
  }
  const float* px = x.data();
  float* py_ = y.mutable_data();
  poison(py_, static_cast<int64_t>(y.size()));
  {
    py::gil_scoped_release release;
    max_pool_channels_forward(px, py_, pidx, g.groups, k, g.S);
  }
  return py::make_tuple(y, idx_obj);
}

// input_shape: the forward input's shape (N, C, ...).
py::array_t<float> max_pool_channels_bwd(FloatArray dy, PieceArray indices, std::vector<int64_t> input_shape, int64_t k) {
  CN_CHECK(input_shape.size() >= 2, "max_pool_channels_backward: input_size needs at least 2 dimensions");
  for (int64_t d : input_shape) CN_CHECK(d >= 0, "max_pool_channels_backward: input_size has a negative dimension");
  const int64_t C = input_shape[1];
  CN_CHECK(k >= 1 && C % k == 0, "max_pool_channels_backward: kernel_size ", k, " does not divide the ", C,
           " input channels");
  std::vector<int64_t> out_shape = input_shape;
  out_shape[1] = C / k;
  require_same_shape(dy, out_shape, "grad_output", "max_pool_channels_backward");
  require_same_shape(indices, out_shape, "indices", "max_pool_channels_backward");
  int64_t S = 1;
  for (size_t i = 2; i < input_shape.size(); ++i) S = checked_mul(S, input_shape[i], "input_size");
  const int64_t groups = checked_mul(input_shape[0], C / k, "input_size");
  auto dx = new_float_array(input_shape);
  const float* pdy = dy.data();
  const int32_t* pidx = indices.data();
  float* pdx = dx.mutable_data();
  poison(pdx, static_cast<int64_t>(dx.size()));
  {
    py::gil_scoped_release release;
    max_pool_channels_backward(pdy, pidx, pdx, groups, k, S);
  }
  return dx;
}

py::array_t<float> avg_pool_channels(FloatArray x, int64_t k) {
  const Geometry g = geometry(x, k, "avg_pool_channels");
  auto y = new_float_array(g.out_shape);
  const float* px = x.data();
  float* py_ = y.mutable_data();
  poison(py_, static_cast<int64_t>(y.size()));
  {
    py::gil_scoped_release release;
    avg_pool_channels_forward(px, py_, g.groups, k, g.S);
  }
  return y;
}

py::array_t<float> avg_pool_channels_bwd(FloatArray dy, std::vector<int64_t> input_shape, int64_t k) {
  CN_CHECK(input_shape.size() >= 2, "avg_pool_channels_backward: input_size needs at least 2 dimensions");
  for (int64_t d : input_shape) CN_CHECK(d >= 0, "avg_pool_channels_backward: input_size has a negative dimension");
  const int64_t C = input_shape[1];
  CN_CHECK(k >= 1 && C % k == 0, "avg_pool_channels_backward: kernel_size ", k, " does not divide the ", C,
           " input channels");
  std::vector<int64_t> out_shape = input_shape;
  out_shape[1] = C / k;
  require_same_shape(dy, out_shape, "grad_output", "avg_pool_channels_backward");
  int64_t S = 1;
  for (size_t i = 2; i < input_shape.size(); ++i) S = checked_mul(S, input_shape[i], "input_size");
  const int64_t groups = checked_mul(input_shape[0], C / k, "input_size");
  auto dx = new_float_array(input_shape);
  const float* pdy = dy.data();
  float* pdx = dx.mutable_data();
  poison(pdx, static_cast<int64_t>(dx.size()));
  {
    py::gil_scoped_release release;
    avg_pool_channels_backward(pdy, pdx, groups, k, S);
  }
  return dx;
}

CNNNATIVE_BINDINGS(pool_channels) {
  m.def("max_pool_channels", &max_pool_channels, py::arg("input"), py::arg("kernel_size"), py::arg("return_indices"));
  m.def("max_pool_channels_backward", &max_pool_channels_bwd, py::arg("grad_output"), py::arg("indices"),
        py::arg("input_size"), py::arg("kernel_size"));
  m.def("avg_pool_channels", &avg_pool_channels, py::arg("input"), py::arg("kernel_size"));
  m.def("avg_pool_channels_backward", &avg_pool_channels_bwd, py::arg("grad_output"), py::arg("input_size"),
        py::arg("kernel_size"));
}

}  // namespace pool_channels_binding
}  // namespace
