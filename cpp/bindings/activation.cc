// Activations, add / add_relu and softmax / log_softmax (elementwise on any shape).
#include <vector>

#include "act/elementwise.h"
#include "act/softmax.h"
#include "act/debug_fill.h"
#include "arrays.h"
#include "out_array.h"
#include "registry.h"

using namespace cnnnative;

namespace {
namespace activation_binding {  // a name per file: the bindings compile as unity sources

// New outputs come from new_float_array: 64-byte aligned, and large ones from the output
// cache, so a 64 MiB activation does not pay the kernel's page faults on every call
// (measured: relu on 2^24 floats 2x slower with a fresh numpy allocation).
FloatArray new_like(const py::array& a) { return new_float_array(shape_of(a)); }

void require_same_shape(const py::array& a, const char* a_name, const py::array& b, const char* b_name,
                        const char* op) {
  bool same = a.ndim() == b.ndim();
  for (py::ssize_t i = 0; same && i < a.ndim(); ++i) same = a.shape(i) == b.shape(i);
  CN_CHECK(same, op, ": ", a_name, " has shape ", shape_string(a), " but ", b_name, " has shape ",
           shape_string(b), "; they must be equal");
}

// A new array, or the caller's `out` (checked; it may be exactly one of the inputs). Only a
// separate output is poisoned: an aliased one still holds the kernel's input.
py::array_t<float> output_for(const py::object& out, const py::array& like,
                              std::initializer_list<const py::array*> inputs, const char* op) {
  py::array_t<float> y;
  if (out.is_none()) {
    y = new_like(like);
  } else {
    y = checked_out(out, shape_of(like), inputs, {}, op);
  }
  bool aliased = false;
  for (const py::array* in : inputs) aliased = aliased || (in->size() > 0 && in->data() == y.data());
  if (!aliased) poison(y.mutable_data(), static_cast<int64_t>(y.size()));
  return y;
}

py::array_t<float> unary(UnaryOp op, const char* name, FloatArray x, const ActParams& param,
                         const py::object& out) {
  auto y = output_for(out, x, {&x}, name);
  const float* px = x.data();
  float* py_ = y.mutable_data();
  const int64_t n = x.size();
  {
    py::gil_scoped_release release;
    elementwise_unary(op, px, py_, n, param);
  }
  return y;
}

py::array_t<float> binary(BinaryOp op, const char* name, const char* a_name, const char* b_name,
                          FloatArray a, FloatArray b, const ActParams& param, const py::object& out) {
  require_same_shape(a, a_name, b, b_name, name);
  auto y = output_for(out, a, {&a, &b}, name);
  const float *pa = a.data(), *pb = b.data();
  float* py_ = y.mutable_data();
  const int64_t n = a.size();
  {
    py::gil_scoped_release release;
    elementwise_binary(op, pa, pb, py_, n, param);
  }
  return y;
}

ActParams slope_param(float slope) {
  ActParams p;
  p.a = slope;
  return p;
}
ActParams two_params(float a, float b) {
  ActParams p;
  p.a = a;
  p.b = b;
  return p;
}
// PyTorch's elu(x, alpha, scale, input_scale) in the kernels' terms (see ActParams).
ActParams elu_params(float alpha, float scale, float input_scale) {
  ActParams p;
  p.a = alpha * scale;
  p.b = scale;
  p.c = input_scale;
  return p;
}

// View `shape` as (outer, D, inner) around dimension `dim` (negative counts from the end).
struct Split {
  int64_t outer = 1, D = 1, inner = 1;
};
Split split_at(const py::array& a, int64_t dim, const char* op) {
  const int64_t nd = a.ndim();
  Split s;
  if (nd == 0) {  // a 0-d array is one row of one element
    CN_CHECK(dim == 0 || dim == -1, op, ": dim ", dim, " is out of range for a 0-d array");
    return s;
  }
  CN_CHECK(dim >= -nd && dim < nd, op, ": dim ", dim, " is out of range for an array of shape ",
           shape_string(a), " (expected -", nd, " <= dim < ", nd, ")");
  if (dim < 0) dim += nd;
  for (int64_t i = 0; i < dim; ++i) s.outer *= a.shape(i);
  s.D = a.shape(dim);
  for (int64_t i = dim + 1; i < nd; ++i) s.inner *= a.shape(i);
  return s;
}

py::array_t<float> softmax_fwd(FloatArray x, int64_t dim, bool log) {
  const Split s = split_at(x, dim, log ? "log_softmax" : "softmax");
  auto y = new_like(x);
  const float* px = x.data();
  float* py_ = y.mutable_data();
  poison(py_, static_cast<int64_t>(y.size()));
  {
    py::gil_scoped_release release;
    softmax_forward(px, py_, s.outer, s.D, s.inner, log);
  }
  return y;
}

py::array_t<float> softmax_bwd(FloatArray g, FloatArray y, int64_t dim, bool log) {
  const char* op = log ? "log_softmax_backward" : "softmax_backward";
  require_same_shape(g, "grad_output", y, "output", op);
  const Split s = split_at(y, dim, op);
  auto gx = new_like(y);
  const float *pg = g.data(), *py_ = y.data();
  float* pgx = gx.mutable_data();
  poison(pgx, static_cast<int64_t>(gx.size()));
  {
    py::gil_scoped_release release;
    softmax_backward(pg, py_, pgx, s.outer, s.D, s.inner, log);
  }
  return gx;
}

CNNNATIVE_BINDINGS(activation) {
  m.def("_set_debug_fill", &set_debug_fill, py::arg("on"),
        "Test aid: NaN-fill every output the ops bindings allocate before the kernel runs.");
  auto def_unary = [&m](const char* name, UnaryOp op) {
    m.def(name, [op, name](FloatArray x, py::object out) { return unary(op, name, x, {}, out); },
          py::arg("x"), py::arg("out") = py::none());
  };
  def_unary("relu", UnaryOp::relu);
  def_unary("relu6", UnaryOp::relu6);
  def_unary("sigmoid", UnaryOp::sigmoid);
  def_unary("tanh", UnaryOp::tanh);
  def_unary("silu", UnaryOp::silu);
  def_unary("gelu", UnaryOp::gelu);
  def_unary("gelu_tanh", UnaryOp::gelu_tanh);
  def_unary("hardswish", UnaryOp::hardswish);
  def_unary("hardsigmoid", UnaryOp::hardsigmoid);
  m.def("leaky_relu",
        [](FloatArray x, float slope, py::object out) {
          return unary(UnaryOp::leaky_relu, "leaky_relu", x, slope_param(slope), out);
        },
        py::arg("x"), py::arg("negative_slope"), py::arg("out") = py::none());

  auto def_binary = [&m](const char* name, BinaryOp op, const char* a_name, const char* b_name) {
    m.def(name,
          [=](FloatArray a, FloatArray b, py::object out) {
            return binary(op, name, a_name, b_name, a, b, {}, out);
          },
          py::arg(a_name), py::arg(b_name), py::arg("out") = py::none());
  };
  def_binary("add", BinaryOp::add, "a", "b");
  def_binary("add_relu", BinaryOp::add_relu, "a", "b");
  def_binary("relu_backward", BinaryOp::relu_backward, "grad_output", "output");
  def_binary("relu6_backward", BinaryOp::relu6_backward, "grad_output", "output");
  def_binary("sigmoid_backward", BinaryOp::sigmoid_backward, "grad_output", "output");
  def_binary("tanh_backward", BinaryOp::tanh_backward, "grad_output", "output");
  // The modern activations' gradients take the forward's input.
  def_binary("silu_backward", BinaryOp::silu_backward, "grad_output", "input");
  def_binary("gelu_backward", BinaryOp::gelu_backward, "grad_output", "input");
  def_binary("gelu_tanh_backward", BinaryOp::gelu_tanh_backward, "grad_output", "input");
  def_binary("hardswish_backward", BinaryOp::hardswish_backward, "grad_output", "input");
  def_binary("hardsigmoid_backward", BinaryOp::hardsigmoid_backward, "grad_output", "input");
  m.def("leaky_relu_backward",
        [](FloatArray g, FloatArray x, float slope, py::object out) {
          return binary(BinaryOp::leaky_relu_backward, "leaky_relu_backward", "grad_output", "input",
                        g, x, slope_param(slope), out);
        },
        py::arg("grad_output"), py::arg("input"), py::arg("negative_slope"), py::arg("out") = py::none());

  // The ELU family, Softplus, Hardtanh and Threshold: forward (out= allowed) and the
  // gradient from the forward's input, each with its scalar parameters.
  def_unary("mish", UnaryOp::mish);
  def_unary("softsign", UnaryOp::softsign);
  def_unary("log_sigmoid", UnaryOp::log_sigmoid);
  def_binary("mish_backward", BinaryOp::mish_backward, "grad_output", "input");
  def_binary("softsign_backward", BinaryOp::softsign_backward, "grad_output", "input");
  def_binary("log_sigmoid_backward", BinaryOp::log_sigmoid_backward, "grad_output", "input");
  m.def("elu",
        [](FloatArray x, float alpha, float scale, float input_scale, py::object out) {
          return unary(UnaryOp::elu, "elu", x, elu_params(alpha, scale, input_scale), out);
        },
        py::arg("x"), py::arg("alpha"), py::arg("scale"), py::arg("input_scale"), py::arg("out") = py::none());
  m.def("elu_backward",
        [](FloatArray g, FloatArray x, float alpha, float scale, float input_scale) {
          return binary(BinaryOp::elu_backward, "elu_backward", "grad_output", "input", g, x,
                        elu_params(alpha, scale, input_scale), py::none());
        },
        py::arg("grad_output"), py::arg("input"), py::arg("alpha"), py::arg("scale"), py::arg("input_scale"));
  m.def("softplus",
        [](FloatArray x, float beta, float threshold) {
          return unary(UnaryOp::softplus, "softplus", x, two_params(beta, threshold), py::none());
        },
        py::arg("x"), py::arg("beta"), py::arg("threshold"));
  m.def("softplus_backward",
        [](FloatArray g, FloatArray x, float beta, float threshold) {
          return binary(BinaryOp::softplus_backward, "softplus_backward", "grad_output", "input", g, x,
                        two_params(beta, threshold), py::none());
        },
        py::arg("grad_output"), py::arg("input"), py::arg("beta"), py::arg("threshold"));
  m.def("hardtanh",
        [](FloatArray x, float min_val, float max_val, py::object out) {
          CN_CHECK(!(min_val > max_val), "hardtanh: min_val (", min_val, ") must not exceed max_val (", max_val, ")");
          return unary(UnaryOp::hardtanh, "hardtanh", x, two_params(min_val, max_val), out);
        },
        py::arg("x"), py::arg("min_val"), py::arg("max_val"), py::arg("out") = py::none());
  m.def("hardtanh_backward",
        [](FloatArray g, FloatArray x, float min_val, float max_val) {
          return binary(BinaryOp::hardtanh_backward, "hardtanh_backward", "grad_output", "input", g, x,
                        two_params(min_val, max_val), py::none());
        },
        py::arg("grad_output"), py::arg("input"), py::arg("min_val"), py::arg("max_val"));
  m.def("threshold",
        [](FloatArray x, float threshold, float value, py::object out) {
          return unary(UnaryOp::threshold, "threshold", x, two_params(threshold, value), out);
        },
        py::arg("x"), py::arg("threshold"), py::arg("value"), py::arg("out") = py::none());
  m.def("threshold_backward",
        [](FloatArray g, FloatArray x, float threshold) {
          return binary(BinaryOp::threshold_backward, "threshold_backward", "grad_output", "input", g, x,
                        two_params(threshold, 0.0f), py::none());
        },
        py::arg("grad_output"), py::arg("input"), py::arg("threshold"));

  m.def("softmax", [](FloatArray x, int64_t dim) { return softmax_fwd(x, dim, false); },
        py::arg("x"), py::arg("dim"));
  m.def("log_softmax", [](FloatArray x, int64_t dim) { return softmax_fwd(x, dim, true); },
        py::arg("x"), py::arg("dim"));
  m.def("softmax_backward",
        [](FloatArray g, FloatArray y, int64_t dim) { return softmax_bwd(g, y, dim, false); },
        py::arg("grad_output"), py::arg("output"), py::arg("dim"));
  m.def("log_softmax_backward",
        [](FloatArray g, FloatArray y, int64_t dim) { return softmax_bwd(g, y, dim, true); },
        py::arg("grad_output"), py::arg("output"), py::arg("dim"));
}

}  // namespace activation_binding
}  // namespace
