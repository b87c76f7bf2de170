// conv3d and its two gradients (torch.nn.functional.conv3d / torch.nn.grad signatures).
// padding is six values: (front, back, top, bottom, left, right).
#include <pybind11/stl.h>

#include <array>
#include <optional>

#include "arrays.h"
#include "conv/conv3d.h"
#include "conv_outputs.h"
#include "registry.h"

using namespace cnnnative;
using Triple = std::array<int64_t, 3>;
using Six = std::array<int64_t, 6>;
using Size5 = std::array<int64_t, 5>;

namespace {
namespace conv3d_binding {  // a name per file: the bindings compile as unity sources

Conv3dParams make_params(const Size5& input_size, const Size5& weight_size, Triple stride,
                         Six padding, Triple dilation, int64_t groups) {
  Conv3dParams p;
  p.N = input_size[0];
  p.C = input_size[1];
  p.K = weight_size[0];
  p.groups = groups;
  for (int d = 0; d < 3; ++d) {
    p.in[d] = input_size[2 + d];
    p.kernel[d] = weight_size[2 + d];
    p.stride[d] = stride[d];
    p.dilation[d] = dilation[d];
    p.pad_lo[d] = padding[2 * d];
    p.pad_hi[d] = padding[2 * d + 1];
  }
  CN_CHECK(groups >= 1, "groups must be >= 1, got ", groups);
  CN_CHECK(weight_size[1] >= 1 &&
               checked_mul(weight_size[1], groups, "weight channels * groups") == p.C,
           "weight has ", weight_size[1], " input channels per group, but input has ", p.C,
           " channels and groups=", groups, " (expected ", p.C / groups, ")");
  p.validate();
  return p;
}

Size5 shape5(const py::array& a, const char* name) {
  require_ndim(a, 5, name);
  return {a.shape(0), a.shape(1), a.shape(2), a.shape(3), a.shape(4)};
}

void check_grad_output(const py::array& dy, const Conv3dParams& p) {
  require_ndim(dy, 5, "grad_output");
  CN_CHECK(dy.shape(0) == p.N && dy.shape(1) == p.K && dy.shape(2) == p.out(0) &&
               dy.shape(3) == p.out(1) && dy.shape(4) == p.out(2),
           "grad_output has shape ", shape_string(dy), " but the convolution's output is (", p.N,
           ", ", p.K, ", ", p.out(0), ", ", p.out(1), ", ", p.out(2), ")");
}

py::array_t<float> conv3d_forward_py(FloatArray x, FloatArray w, std::optional<FloatArray> bias,
                          Triple stride, Six padding, Triple dilation, int64_t groups,
                          const std::string& algo) {
  const Conv3dParams p = make_params(shape5(x, "input"), shape5(w, "weight"), stride, padding,
                                     dilation, groups);
  if (bias)
    CN_CHECK(bias->ndim() == 1 && bias->shape(0) == p.K, "bias must have shape (", p.K,
             ",), got ", shape_string(*bias));
  auto y = new_float_array({p.N, p.K, p.out(0), p.out(1), p.out(2)});
  poison_for_debug(y);
  const float *px = x.data(), *pw = w.data(), *pb = bias ? bias->data() : nullptr;
  float* py_ = y.mutable_data();
  {
    py::gil_scoped_release release;
    conv3d_forward(p, px, pw, pb, py_, algo);
  }
  return y;
}

py::array_t<float> conv3d_input(Size5 input_size, FloatArray w, FloatArray dy, Triple stride,
                                Six padding, Triple dilation, int64_t groups,
                                const std::string& algo) {
  const Conv3dParams p = make_params(input_size, shape5(w, "weight"), stride, padding, dilation, groups);
  check_grad_output(dy, p);
  auto dx = new_float_array({p.N, p.C, p.in[0], p.in[1], p.in[2]});
  poison_for_debug(dx);
  const float *pdy = dy.data(), *pw = w.data();
  float* pdx = dx.mutable_data();
  {
    py::gil_scoped_release release;
    conv3d_backward_input(p, pdy, pw, pdx, algo);
  }
  return dx;
}

// Returns (grad_weight, grad_bias); grad_bias is None unless with_bias.
py::tuple conv3d_weight(FloatArray x, Size5 weight_size, FloatArray dy, Triple stride, Six padding,
                        Triple dilation, int64_t groups, bool with_bias, const std::string& algo) {
  const Conv3dParams p = make_params(shape5(x, "input"), weight_size, stride, padding, dilation, groups);
  check_grad_output(dy, p);
  auto dw = new_float_array({weight_size[0], weight_size[1], weight_size[2], weight_size[3],
                             weight_size[4]});
  poison_for_debug(dw);
  const BiasGradientOutput db = bias_gradient_output(with_bias, p.K);
  const float *px = x.data(), *pdy = dy.data();
  float* pdw = dw.mutable_data();
  {
    py::gil_scoped_release release;
    conv3d_backward_weight(p, px, pdy, pdw, db.data, algo);
  }
  return py::make_tuple(dw, db.array);
}

CNNNATIVE_BINDINGS(conv3d) {
  m.def("conv3d", &conv3d_forward_py, py::arg("input"), py::arg("weight"), py::arg("bias"), py::arg("stride"),
        py::arg("padding"), py::arg("dilation"), py::arg("groups"), py::arg("algo") = "auto");
  m.def("conv3d_input", &conv3d_input, py::arg("input_size"), py::arg("weight"),
        py::arg("grad_output"), py::arg("stride"), py::arg("padding"), py::arg("dilation"),
        py::arg("groups"), py::arg("algo") = "auto");
  m.def("conv3d_weight", &conv3d_weight, py::arg("input"), py::arg("weight_size"),
        py::arg("grad_output"), py::arg("stride"), py::arg("padding"), py::arg("dilation"),
        py::arg("groups"), py::arg("with_bias"), py::arg("algo") = "auto");
}

}  // namespace conv3d_binding
}  // namespace
