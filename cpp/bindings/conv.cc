// conv2d and its two gradients (torch.nn.functional.conv2d / torch.nn.grad signatures).
#include <pybind11/stl.h>

#include <array>
#include <optional>

#include "arrays.h"
#include "cnnnative/conv.h"
#include "conv_outputs.h"
#include "registry.h"

using namespace cnnnative;
using Pair = std::array<int64_t, 2>;
using Quad = std::array<int64_t, 4>;

namespace {
namespace conv_binding {  // a name per file: the bindings compile as unity sources

ConvParams make_params(const std::array<int64_t, 4>& input_size, const std::array<int64_t, 4>& weight_size,
                       Pair stride, Quad padding, Pair dilation, int64_t groups) {
  ConvParams p;
  p.N = input_size[0];
  p.C = input_size[1];
  p.H = input_size[2];
  p.W = input_size[3];
  p.K = weight_size[0];
  p.R = weight_size[2];
  p.S = weight_size[3];
  p.stride_h = stride[0];
  p.stride_w = stride[1];
  p.pad_top = padding[0];
  p.pad_bottom = padding[1];
  p.pad_left = padding[2];
  p.pad_right = padding[3];
  p.dilation_h = dilation[0];
  p.dilation_w = dilation[1];
  p.groups = groups;
  CN_CHECK(groups >= 1, "groups must be >= 1, got ", groups);
  CN_CHECK(weight_size[1] >= 1 && checked_mul(weight_size[1], groups, "weight channels * groups") == p.C, "weight has ", weight_size[1],
           " input channels per group, but input has ", p.C, " channels and groups=", groups,
           " (expected ", (groups > 0 ? p.C / groups : 0), ")");
  p.validate();
  return p;
}

std::array<int64_t, 4> shape4(const py::array& a, const char* name) {
  require_ndim(a, 4, name);
  return {a.shape(0), a.shape(1), a.shape(2), a.shape(3)};
}

void check_bias(const std::optional<FloatArray>& bias, int64_t K) {
  if (!bias) return;
  CN_CHECK(bias->ndim() == 1 && bias->shape(0) == K, "bias must have shape (", K, ",), got ",
           shape_string(*bias));
}

void check_grad_output(const py::array& dy, const ConvParams& p) {
  require_ndim(dy, 4, "grad_output");
  CN_CHECK(dy.shape(0) == p.N && dy.shape(1) == p.K && dy.shape(2) == p.output_h() &&
               dy.shape(3) == p.output_w(),
           "grad_output has shape ", shape_string(dy), " but the convolution's output is (", p.N,
           ", ", p.K, ", ", p.output_h(), ", ", p.output_w(), ")");
}

py::array_t<float> conv2d(FloatArray x, FloatArray w, std::optional<FloatArray> bias, Pair stride,
                          Quad padding, Pair dilation, int64_t groups, const std::string& algo) {
  const ConvParams p = make_params(shape4(x, "input"), shape4(w, "weight"), stride, padding, dilation, groups);
  check_bias(bias, p.K);
  auto y = new_float_array({p.N, p.K, p.output_h(), p.output_w()});
  poison_for_debug(y);
  const float* b = bias ? bias->data() : nullptr;
  const float *px = x.data(), *pw = w.data();
  float* py_ = y.mutable_data();
  {
    py::gil_scoped_release release;
    conv2d_forward(p, px, pw, b, py_, algo);
  }
  return y;
}

py::array_t<float> conv2d_input(std::array<int64_t, 4> input_size, FloatArray w, FloatArray dy,
                                Pair stride, Quad padding, Pair dilation, int64_t groups,
                                const std::string& algo) {
  const ConvParams p = make_params(input_size, shape4(w, "weight"), stride, padding, dilation, groups);
  check_grad_output(dy, p);
  auto dx = new_float_array({p.N, p.C, p.H, p.W});
  poison_for_debug(dx);
  const float *pdy = dy.data(), *pw = w.data();
  float* pdx = dx.mutable_data();
  {
    py::gil_scoped_release release;
    conv2d_backward_input(p, pdy, pw, pdx, algo);
  }
  return dx;
}

// Returns (grad_weight, grad_bias); grad_bias is None unless with_bias.
py::tuple conv2d_weight(FloatArray x, std::array<int64_t, 4> weight_size, FloatArray dy, Pair stride,
                        Quad padding, Pair dilation, int64_t groups, bool with_bias) {
  const ConvParams p = make_params(shape4(x, "input"), weight_size, stride, padding, dilation, groups);
  check_grad_output(dy, p);
  auto dw = new_float_array({weight_size[0], weight_size[1], weight_size[2], weight_size[3]});
  poison_for_debug(dw);
  const BiasGradientOutput db = bias_gradient_output(with_bias, p.K);
  const float *px = x.data(), *pdy = dy.data();
  float* pdw = dw.mutable_data();
  {
    py::gil_scoped_release release;
    conv2d_backward_weight(p, px, pdy, pdw, db.data);
  }
  return py::make_tuple(dw, db.array);
}

CNNNATIVE_BINDINGS(conv) {
  m.def("conv2d", &conv2d, py::arg("input"), py::arg("weight"), py::arg("bias"), py::arg("stride"),
        py::arg("padding"), py::arg("dilation"), py::arg("groups"), py::arg("algo"));
  m.def("conv2d_input", &conv2d_input, py::arg("input_size"), py::arg("weight"),
        py::arg("grad_output"), py::arg("stride"), py::arg("padding"), py::arg("dilation"),
        py::arg("groups"), py::arg("algo"));
  m.def("conv2d_weight", &conv2d_weight, py::arg("input"), py::arg("weight_size"),
        py::arg("grad_output"), py::arg("stride"), py::arg("padding"), py::arg("dilation"),
        py::arg("groups"), py::arg("with_bias"));
  m.def("conv_algorithm_names", [] {
    std::vector<std::string> v;
    for (auto* a : conv_algorithms()) v.push_back(a->name);
    return v;
  });
  m.def("conv_algorithm_support",
        [](std::array<int64_t, 4> input_size, std::array<int64_t, 4> weight_size, Pair stride,
           Quad padding, Pair dilation, int64_t groups) {
          const ConvParams p = make_params(input_size, weight_size, stride, padding, dilation, groups);
          py::dict d;
          for (auto* a : conv_algorithms()) {
            std::string why;
            const bool ok = a->supports(p, &why);
            py::dict e;
            e["supported"] = ok;
            e["reason"] = ok ? std::string() : why;
            e["backward_input"] = a->backward_input != nullptr;
            e["workspace_bytes"] = ok && a->workspace_bytes ? a->workspace_bytes(p) : size_t(0);
            d[py::str(a->name)] = e;
          }
          d["auto"] = py::str(choose_conv_algorithm(p));
          return d;
        });
}

}  // namespace conv_binding
}  // namespace
