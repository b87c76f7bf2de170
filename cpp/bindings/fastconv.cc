// Fast convolution controls and entry points: algorithm switches, autotune, debug
// scratch poisoning, the depthwise weight gradient and Winograd with prepared weights.
#include <pybind11/stl.h>

#include <array>
#include <optional>

#include "../src/conv/autotune.h"
#include "arrays.h"
#include "cnnnative/depthwise.h"
#include "cnnnative/winograd.h"
#include "conv_outputs.h"
#include "registry.h"

using namespace cnnnative;
using Pair = std::array<int64_t, 2>;
using Quad = std::array<int64_t, 4>;
using Size4 = std::array<int64_t, 4>;

namespace {
namespace fastconv_binding {  // a name per file: the bindings compile as unity sources

ConvParams params(const Size4& in, const Size4& w, Pair stride, Quad pad, Pair dil, int64_t groups) {
  ConvParams p;
  p.N = in[0], p.C = in[1], p.H = in[2], p.W = in[3];
  p.K = w[0], p.R = w[2], p.S = w[3];
  p.stride_h = stride[0], p.stride_w = stride[1];
  p.pad_top = pad[0], p.pad_bottom = pad[1], p.pad_left = pad[2], p.pad_right = pad[3];
  p.dilation_h = dil[0], p.dilation_w = dil[1];
  p.groups = groups;
  CN_CHECK(groups >= 1, "groups must be >= 1, got ", groups);
  CN_CHECK(w[1] * groups == p.C, "weight has ", w[1], " input channels per group, but input has ", p.C,
           " channels and groups=", groups);
  p.validate();
  return p;
}

Size4 shape4(const py::array& a, const char* name) {
  require_ndim(a, 4, name);
  return {a.shape(0), a.shape(1), a.shape(2), a.shape(3)};
}

Activation parse_activation(const std::string& s) {
  if (s == "none" || s.empty()) return Activation::none;
  if (s == "relu") return Activation::relu;
  if (s == "relu6") return Activation::relu6;
  throw std::invalid_argument(concat("activation must be 'none', 'relu' or 'relu6', got '", s, "'"));
}

py::tuple depthwise_weight(FloatArray x, Size4 weight_size, FloatArray dy, Pair stride, Quad padding,
                           Pair dilation, int64_t groups, bool with_bias) {
  const ConvParams p = params(shape4(x, "input"), weight_size, stride, padding, dilation, groups);
  std::string why;
  CN_CHECK(depthwise_supports(p, &why), why);
  require_ndim(dy, 4, "grad_output");
  CN_CHECK(dy.shape(0) == p.N && dy.shape(1) == p.K && dy.shape(2) == p.output_h() && dy.shape(3) == p.output_w(),
           "grad_output has shape ", shape_string(dy), " but the convolution's output is (", p.N, ", ", p.K,
           ", ", p.output_h(), ", ", p.output_w(), ")");
  auto dw = new_float_array({weight_size[0], weight_size[1], weight_size[2], weight_size[3]});
  const BiasGradientOutput db = bias_gradient_output(with_bias, p.K);
  const float *px = x.data(), *pdy = dy.data();
  float* pdw = dw.mutable_data();
  {
    py::gil_scoped_release release;
    depthwise_backward_weight(p, px, pdy, pdw, db.data);
  }
  return py::make_tuple(dw, db.array);
}

CNNNATIVE_BINDINGS(fastconv) {
  m.def("set_fast_algorithms", &set_fast_algorithms, py::arg("winograd"), py::arg("fft"));
  m.def("get_fast_algorithms", [] {
    py::dict d;
    d["winograd"] = winograd_enabled();
    d["fft"] = fft_enabled();
    return d;
  });
  m.def("set_autotune", &set_autotune, py::arg("on"));
  m.def("get_autotune", &autotune_enabled);
  m.def("clear_autotune_cache", &clear_autotune_cache);
  m.def("set_scratch_nan", &set_scratch_nan, py::arg("on"));
  m.def("depthwise_conv2d_weight", &depthwise_weight, py::arg("input"), py::arg("weight_size"),
        py::arg("grad_output"), py::arg("stride"), py::arg("padding"), py::arg("dilation"), py::arg("groups"),
        py::arg("with_bias"));
  m.def("winograd_default_tile", [](Size4 in, Size4 w, Quad padding, int64_t groups) {
    return winograd_default_tile(params(in, w, {1, 1}, padding, {1, 1}, groups));
  });

  py::class_<WinogradWeights>(m, "WinogradWeights")
      .def_readonly("tile", &WinogradWeights::tile)
      .def_readonly("out_channels", &WinogradWeights::K)
      .def_readonly("in_channels_per_group", &WinogradWeights::C_per_group)
      .def_readonly("groups", &WinogradWeights::groups)
      .def_property_readonly("nbytes", &WinogradWeights::bytes);
  m.def("winograd_prepare", [](FloatArray w, int64_t groups, int tile) {
    const Size4 ws = shape4(w, "weight");
    CN_CHECK(ws[2] == 3 && ws[3] == 3, "Winograd needs a 3x3 weight, got shape ", shape_string(w));
    const ConvParams p = params({1, ws[1] * groups, 3, 3}, ws, {1, 1}, {0, 0, 0, 0}, {1, 1}, groups);
    const float* pw = w.data();
    py::gil_scoped_release release;
    return winograd_prepare(p, pw, tile);
  }, py::arg("weight"), py::arg("groups"), py::arg("tile"));
  m.def("winograd_forward_prepared",
        [](FloatArray x, const WinogradWeights& ww, Quad padding, std::optional<FloatArray> bias,
           std::optional<FloatArray> residual, const std::string& activation) {
          const ConvParams p = params(shape4(x, "input"), {ww.K, ww.C_per_group, 3, 3}, {1, 1}, padding, {1, 1},
                                      ww.groups);
          const std::vector<int64_t> out_shape{p.N, p.K, p.output_h(), p.output_w()};
          if (bias)
            CN_CHECK(bias->ndim() == 1 && bias->shape(0) == p.K, "bias must have shape (", p.K, ",), got ",
                     shape_string(*bias));
          if (residual) {
            require_ndim(*residual, 4, "residual");
            for (int i = 0; i < 4; ++i)
              CN_CHECK(residual->shape(i) == out_shape[i], "residual has shape ", shape_string(*residual),
                       " but the output is (", out_shape[0], ", ", out_shape[1], ", ", out_shape[2], ", ",
                       out_shape[3], ")");
          }
          ConvEpilogue ep;
          ep.bias = bias ? bias->data() : nullptr;
          ep.residual = residual ? residual->data() : nullptr;
          ep.activation = parse_activation(activation);
          auto y = new_float_array(out_shape);
          const float* px = x.data();
          float* py_ = y.mutable_data();
          {
            py::gil_scoped_release release;
            winograd_forward_prepared(p, ww, px, py_, ep);
          }
          return y;
        },
        py::arg("input"), py::arg("weights"), py::arg("padding"), py::arg("bias"), py::arg("residual"),
        py::arg("activation"));
}

}  // namespace fastconv_binding
}  // namespace
