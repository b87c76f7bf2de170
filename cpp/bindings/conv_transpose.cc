// The sub-pixel transposed convolution (conv/conv_transpose_subpixel.h) for
// ops/conv_transpose.py. Every size is the convolution's whose input gradient the
// transposed convolution is: input_size its input (the transposed output), weight
// (K, C, R, S) its weight (torch's (in_channels, out_channels, kH, kW)).
#include <pybind11/stl.h>

#include <array>
#include <optional>

#include "arrays.h"
#include "cnnnative/conv.h"
#include "conv/conv_transpose_subpixel.h"
#include "conv_outputs.h"
#include "registry.h"

using namespace cnnnative;
using Pair = std::array<int64_t, 2>;
using Quad = std::array<int64_t, 4>;

namespace {
namespace conv_transpose_binding {  // a name per file: the bindings compile as unity sources

ConvParams params(const std::array<int64_t, 4>& input_size, const py::array& w, Pair stride, Quad padding,
                  Pair dilation, int64_t groups) {
  require_ndim(w, 4, "weight");
  ConvParams p;
  p.N = input_size[0], p.C = input_size[1], p.H = input_size[2], p.W = input_size[3];
  p.K = w.shape(0), p.R = w.shape(2), p.S = w.shape(3);
  p.stride_h = stride[0], p.stride_w = stride[1];
  p.pad_top = padding[0], p.pad_bottom = padding[1], p.pad_left = padding[2], p.pad_right = padding[3];
  p.dilation_h = dilation[0], p.dilation_w = dilation[1];
  p.groups = groups;
  CN_CHECK(groups >= 1 && w.shape(1) * groups == p.C, "weight ", shape_string(w), " with groups=", groups,
           " does not fit ", p.C, " output channels");
  p.validate();
  return p;
}

// The stacked 3x3 weight when the sub-pixel path is preferred for this pass, else None.
py::object subpixel_weight(FloatArray w, std::array<int64_t, 4> input_size, Pair stride, Quad padding,
                           Pair dilation, int64_t groups, bool for_input_gradient) {
  const ConvParams p = params(input_size, w, stride, padding, dilation, groups);
  subpixel::Geometry g;
  if (!subpixel::preferred(p, &g, for_input_gradient, true)) return py::none();
  if (!subpixel::weight_finite(p, w.data())) return py::none();
  auto wsub = new_float_array({g.conv.K, g.conv.C, 3, 3});
  const float* pw = w.data();
  float* out = wsub.mutable_data();
  {
    py::gil_scoped_release release;
    subpixel::stacked_weight(p, g, pw, out);
  }
  return std::move(wsub);
}

// True when the sub-pixel path is preferred for this pass: then
// conv_transpose_subpixel(_input_grad) with stacked_weight=None gather the stacked
// filters from w inside the Winograd filter transform (no stacked weight is built). A w
// holding a NaN or inf is found there (weight_finite=False) and runs GEMM instead.
bool subpixel_preferred(FloatArray w, std::array<int64_t, 4> input_size, Pair stride, Quad padding, Pair dilation,
                        int64_t groups, bool for_input_gradient) {
  const ConvParams p = params(input_size, w, stride, padding, dilation, groups);
  subpixel::Geometry g;
  return subpixel::preferred(p, &g, for_input_gradient, true);
}

// The geometry, and the stacked weight's shape when one is given (None: gathered).
subpixel::Geometry geometry(const ConvParams& p, const py::object& stacked) {
  subpixel::Geometry g;
  CN_CHECK(subpixel::decomposes(p, &g), "conv_transpose2d: this geometry has no sub-pixel decomposition");
  if (stacked.is_none()) return g;
  const py::array wsub = stacked.cast<py::array>();
  require_ndim(wsub, 4, "stacked weight");
  CN_CHECK(wsub.shape(0) == g.conv.K && wsub.shape(1) == g.conv.C && wsub.shape(2) == 3 && wsub.shape(3) == 3,
           "stacked weight has shape ", shape_string(wsub), ", expected (", g.conv.K, ", ", g.conv.C, ", 3, 3)");
  return g;
}

// dx (N, C, H, W) from dy (N, K, OH, OW).
py::array_t<float> subpixel_forward(FloatArray dy, FloatArray w, py::object stacked_weight, std::array<int64_t, 4> input_size,
                                    Pair stride, Quad padding, Pair dilation, int64_t groups, bool weight_finite,
                                    std::optional<FloatArray> bias) {
  const ConvParams p = params(input_size, w, stride, padding, dilation, groups);
  const subpixel::Geometry g = geometry(p, stacked_weight);
  FloatArray wsub;
  if (!stacked_weight.is_none()) wsub = stacked_weight.cast<FloatArray>();
  require_ndim(dy, 4, "input");
  CN_CHECK(dy.shape(0) == p.N && dy.shape(1) == p.K && dy.shape(2) == p.output_h() && dy.shape(3) == p.output_w(),
           "input has shape ", shape_string(dy), ", expected (", p.N, ", ", p.K, ", ", p.output_h(), ", ",
           p.output_w(), ")");
  auto dx = new_float_array({p.N, p.C, p.H, p.W});
  poison_for_debug(dx);
  ConvParams c = g.conv;
  c.N = p.N;
  auto stacked = new_float_array({std::max<int64_t>(c.N * c.K * g.mh * g.mw, 1)});
  poison_for_debug(stacked);
  const float *pdy = dy.data(), *pw = w.data(), *pws = stacked_weight.is_none() ? nullptr : wsub.data();
  float *pdx = dx.mutable_data(), *ps = stacked.mutable_data();
  const float* pb = nullptr;
  if (bias) {
    require_ndim(*bias, 1, "bias");
    CN_CHECK(bias->shape(0) == p.C, "bias has shape ", shape_string(*bias), ", expected (", p.C, ",)");
    pb = bias->data();
  }
  {
    py::gil_scoped_release release;
    subpixel::forward(p, g, pdy, pw, pws, pdx, ps, weight_finite, pb);
  }
  return dx;
}

// grad_dy (N, K, OH, OW) from grad_dx (N, C, H, W).
py::array_t<float> subpixel_input_grad(FloatArray grad_dx, FloatArray w, py::object stacked_weight, Pair stride,
                                       Quad padding, Pair dilation, int64_t groups, bool weight_finite) {
  require_ndim(grad_dx, 4, "grad_output");
  const ConvParams p = params({grad_dx.shape(0), grad_dx.shape(1), grad_dx.shape(2), grad_dx.shape(3)}, w, stride,
                              padding, dilation, groups);
  const subpixel::Geometry g = geometry(p, stacked_weight);
  FloatArray wsub;
  if (!stacked_weight.is_none()) wsub = stacked_weight.cast<FloatArray>();
  auto gdy = new_float_array({p.N, p.K, p.output_h(), p.output_w()});
  poison_for_debug(gdy);
  auto stacked = new_float_array({std::max<int64_t>(p.N * g.conv.K * g.mh * g.mw, 1)});
  poison_for_debug(stacked);
  const float *pg = grad_dx.data(), *pw = w.data(), *pws = stacked_weight.is_none() ? nullptr : wsub.data();
  float *pgdy = gdy.mutable_data(), *ps = stacked.mutable_data();
  {
    py::gil_scoped_release release;
    subpixel::input_gradient(p, g, pg, pw, pws, pgdy, ps, weight_finite);
  }
  return gdy;
}

// grad_w (K, C, R, S) of the transposed convolution from its input dy (N, K, OH, OW) and
// output gradient grad_dx (N, C, H, W) on the stacked Winograd path, or None where that
// path is not preferred or the data hold a NaN or inf (the caller runs conv2d_weight).
py::object subpixel_weight_grad(FloatArray grad_dx, FloatArray dy, std::array<int64_t, 4> weight_size, Pair stride,
                                Quad padding, Pair dilation, int64_t groups) {
  require_ndim(grad_dx, 4, "grad_output");
  require_ndim(dy, 4, "input");
  ConvParams p;
  p.N = grad_dx.shape(0), p.C = grad_dx.shape(1), p.H = grad_dx.shape(2), p.W = grad_dx.shape(3);
  p.K = weight_size[0], p.R = weight_size[2], p.S = weight_size[3];
  p.stride_h = stride[0], p.stride_w = stride[1];
  p.pad_top = padding[0], p.pad_bottom = padding[1], p.pad_left = padding[2], p.pad_right = padding[3];
  p.dilation_h = dilation[0], p.dilation_w = dilation[1];
  p.groups = groups;
  CN_CHECK(groups >= 1 && weight_size[1] * groups == p.C, "weight size with groups=", groups, " does not fit ", p.C,
           " output channels");
  p.validate();
  CN_CHECK(dy.shape(0) == p.N && dy.shape(1) == p.K && dy.shape(2) == p.output_h() && dy.shape(3) == p.output_w(),
           "input has shape ", shape_string(dy), ", expected (", p.N, ", ", p.K, ", ", p.output_h(), ", ",
           p.output_w(), ")");
  subpixel::Geometry g;
  if (!subpixel::weight_gradient_preferred(p, &g)) return py::none();
  auto gw = new_float_array({p.K, p.C / p.groups, p.R, p.S});
  poison_for_debug(gw);
  const float *pg = grad_dx.data(), *pdy = dy.data();
  float* pw = gw.mutable_data();
  bool done;
  {
    py::gil_scoped_release release;
    done = subpixel::weight_gradient(p, g, pg, pdy, pw);
  }
  if (!done) return py::none();
  return std::move(gw);
}

CNNNATIVE_BINDINGS(conv_transpose) {
  m.def("conv_transpose_subpixel_weight", &subpixel_weight, py::arg("weight"), py::arg("input_size"),
        py::arg("stride"), py::arg("padding"), py::arg("dilation"), py::arg("groups"),
        py::arg("for_input_gradient"));
  m.def("conv_transpose_subpixel_preferred", &subpixel_preferred, py::arg("weight"), py::arg("input_size"),
        py::arg("stride"), py::arg("padding"), py::arg("dilation"), py::arg("groups"),
        py::arg("for_input_gradient"));
  m.def("conv_transpose_subpixel", &subpixel_forward, py::arg("grad_output"), py::arg("weight"),
        py::arg("stacked_weight"), py::arg("input_size"), py::arg("stride"), py::arg("padding"),
        py::arg("dilation"), py::arg("groups"), py::arg("weight_finite") = false, py::arg("bias") = py::none());
  m.def("conv_transpose_subpixel_input_grad", &subpixel_input_grad, py::arg("grad_input"), py::arg("weight"),
        py::arg("stacked_weight"), py::arg("stride"), py::arg("padding"), py::arg("dilation"), py::arg("groups"),
        py::arg("weight_finite") = false);
  m.def("conv_transpose_subpixel_weight_grad", &subpixel_weight_grad, py::arg("grad_output"), py::arg("input"),
        py::arg("weight_size"), py::arg("stride"), py::arg("padding"), py::arg("dilation"), py::arg("groups"));
}

}  // namespace conv_transpose_binding
}  // namespace
