// Convolution, GEMM and linear entry points of _cuda: argument checks (the same
// ConvParams::validate the CPU core uses), output allocation, GIL release, launch.
#include <cuda_runtime_api.h>

#include <array>

#include "check.h"
#include "common.h"
#include "kernels.h"

namespace cnnnative {
namespace cuda {

namespace {

using Pair = std::array<int64_t, 2>;
using Pad4 = std::array<int64_t, 4>;

ConvParams make_params(const std::array<int64_t, 4>& in, const std::vector<int64_t>& w, Pair stride, Pad4 pad,
                       Pair dilation, int64_t groups) {
  CN_CHECK(w.size() == 4, "weight size must have 4 dimensions (K, C/groups, R, S), got ", w.size());
  ConvParams p;
  p.N = in[0]; p.C = in[1]; p.H = in[2]; p.W = in[3];
  p.K = w[0]; p.R = w[2]; p.S = w[3];
  p.stride_h = stride[0]; p.stride_w = stride[1];
  p.pad_top = pad[0]; p.pad_bottom = pad[1]; p.pad_left = pad[2]; p.pad_right = pad[3];
  p.dilation_h = dilation[0]; p.dilation_w = dilation[1];
  p.groups = groups;
  p.validate();
  CN_CHECK(w[1] == p.C / p.groups, "weight has ", w[1], " input channels per group but input has ", p.C,
           " channels in ", p.groups, " groups: ", p.to_string());
  return p;
}

std::array<int64_t, 4> shape4(const Tensor& t) { return {t.shape[0], t.shape[1], t.shape[2], t.shape[3]}; }

void require_grad_output(const Tensor& dy, const ConvParams& p) {
  require(dy, 4, DType::float32, "grad_output");
  CN_CHECK(dy.shape[0] == p.N && dy.shape[1] == p.K && dy.shape[2] == p.output_h() && dy.shape[3] == p.output_w(),
           "grad_output has shape ", dy.shape_string(), " but the convolution output is (", p.N, ", ", p.K, ", ",
           p.output_h(), ", ", p.output_w(), ") for ", p.to_string());
}

// auto: the direct depthwise kernel when each group is one channel; Winograd F(4x4, 3x3)
// for 3x3 stride-1 layers wide enough for the transforms to pay off; else implicit GEMM.
std::string auto_algorithm(const ConvParams& p) {
  if (p.groups == p.C && p.groups > 1) return "depthwise";
  if (winograd_supported(p) && p.C >= 64 && p.K >= 64) return "winograd_f4x3";
  return "implicit_gemm";
}

Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor* bias, Pair stride, Pad4 pad, Pair dilation,
              int64_t groups, const std::string& algo) {
  require(x, 4, DType::float32, "input");
  require(w, 4, DType::float32, "weight");
  require_same_device(x, w, "input", "weight");
  const ConvParams p = make_params(shape4(x), w.shape, stride, pad, dilation, groups);
  if (bias) {
    require(*bias, 1, DType::float32, "bias");
    require_same_device(x, *bias, "input", "bias");
    CN_CHECK(bias->shape[0] == p.K, "bias has ", bias->shape[0], " elements, expected ", p.K);
  }
  const std::string chosen = algo == "auto" ? auto_algorithm(p) : algo;
  CN_CHECK(chosen == "implicit_gemm" || chosen == "depthwise" || chosen == "winograd_f2x3" ||
               chosen == "winograd_f4x3",
           "unknown CUDA convolution algorithm '", algo,
           "' (auto, implicit_gemm, depthwise, winograd_f2x3, winograd_f4x3)");
  CN_CHECK(chosen != "depthwise" || (p.groups == p.C && p.groups > 1),
           "algo 'depthwise' needs groups == C > 1: ", p.to_string());
  const bool winograd = chosen.rfind("winograd", 0) == 0;
  CN_CHECK(!winograd || winograd_supported(p), "algo '", chosen,
           "' needs a 3x3 kernel, stride 1, dilation 1 and groups 1: ", p.to_string());
  const int tile = chosen == "winograd_f4x3" ? 4 : 2;
  DeviceGuard guard(x.device);
  Tensor y = empty_tensor({p.N, p.K, p.output_h(), p.output_w()}, DType::float32, x.device);
  Tensor workspace;
  if (winograd) workspace = empty_tensor({winograd_workspace_floats(p, tile)}, DType::float32, x.device);
  const float* b = bias ? bias->ptr<float>() : nullptr;
  py::gil_scoped_release release;
  if (chosen == "depthwise")
    conv2d_depthwise_forward(p, x.ptr<float>(), w.ptr<float>(), b, y.ptr<float>());
  else if (winograd)
    conv2d_winograd_forward(p, tile, x.ptr<float>(), w.ptr<float>(), b, y.ptr<float>(), workspace.ptr<float>());
  else
    conv2d_forward(p, x.ptr<float>(), w.ptr<float>(), b, y.ptr<float>());
  return y;
}

Tensor conv2d_input(std::array<int64_t, 4> input_size, const Tensor& w, const Tensor& dy, Pair stride, Pad4 pad,
                    Pair dilation, int64_t groups) {
  require(w, 4, DType::float32, "weight");
  const ConvParams p = make_params(input_size, w.shape, stride, pad, dilation, groups);
  require_grad_output(dy, p);
  require_same_device(w, dy, "weight", "grad_output");
  DeviceGuard guard(w.device);
  Tensor dx = empty_tensor({p.N, p.C, p.H, p.W}, DType::float32, w.device);
  py::gil_scoped_release release;
  if (depthwise_applies(p))
    conv2d_depthwise_backward_input(p, w.ptr<float>(), dy.ptr<float>(), dx.ptr<float>());
  else
    conv2d_backward_input(p, w.ptr<float>(), dy.ptr<float>(), dx.ptr<float>());
  return dx;
}

Tensor conv2d_weight(const Tensor& x, std::array<int64_t, 4> weight_size, const Tensor& dy, Pair stride, Pad4 pad,
                     Pair dilation, int64_t groups) {
  require(x, 4, DType::float32, "input");
  const std::vector<int64_t> ws(weight_size.begin(), weight_size.end());
  const ConvParams p = make_params(shape4(x), ws, stride, pad, dilation, groups);
  require_grad_output(dy, p);
  require_same_device(x, dy, "input", "grad_output");
  DeviceGuard guard(x.device);
  Tensor dw = empty_tensor(ws, DType::float32, x.device);
  py::gil_scoped_release release;
  if (depthwise_applies(p))
    conv2d_depthwise_backward_weight(p, x.ptr<float>(), dy.ptr<float>(), dw.ptr<float>());
  else
    conv2d_backward_weight(p, x.ptr<float>(), dy.ptr<float>(), dw.ptr<float>());
  return dw;
}

// Sum of grad_output over every axis but 1: bias gradient of conv2d (N, K, OH, OW) and of
// linear (N, K).
Tensor bias_grad(const Tensor& dy) {
  require(dy, -1, DType::float32, "grad_output");
  CN_CHECK(dy.ndim() >= 2, "grad_output must have at least 2 dimensions, got shape ", dy.shape_string());
  int64_t hw = 1;
  for (int64_t i = 2; i < dy.ndim(); ++i) hw *= dy.shape[i];
  DeviceGuard guard(dy.device);
  Tensor db = empty_tensor({dy.shape[1]}, DType::float32, dy.device);
  py::gil_scoped_release release;
  channel_sum(dy.ptr<float>(), db.ptr<float>(), dy.shape[0], dy.shape[1], hw);
  return db;
}

Tensor gemm(const Tensor& a, const Tensor& b, bool trans_a, bool trans_b, float alpha, float beta, py::object out,
            const Tensor* row_bias, const Tensor* col_bias, float lo, float hi, bool tf32) {
  require(a, 2, DType::float32, "a");
  require(b, 2, DType::float32, "b");
  require_same_device(a, b, "a", "b");
  const int64_t M = trans_a ? a.shape[1] : a.shape[0], K = trans_a ? a.shape[0] : a.shape[1];
  const int64_t Kb = trans_b ? b.shape[1] : b.shape[0], N = trans_b ? b.shape[0] : b.shape[1];
  CN_CHECK(K == Kb, "gemm: op(a) is (", M, ", ", K, ") but op(b) is (", Kb, ", ", N, ")");
  if (col_bias) {
    require(*col_bias, 1, DType::float32, "col_bias");
    CN_CHECK(col_bias->shape[0] == N, "col_bias has ", col_bias->shape[0], " elements, expected ", N);
    require_same_device(a, *col_bias, "a", "col_bias");
  }
  if (row_bias) {
    require(*row_bias, 1, DType::float32, "row_bias");
    CN_CHECK(row_bias->shape[0] == M, "row_bias has ", row_bias->shape[0], " elements, expected ", M);
    require_same_device(a, *row_bias, "a", "row_bias");
  }
  DeviceGuard guard(a.device);
  Tensor c;
  if (out.is_none()) {
    CN_CHECK(beta == 0.0f, "gemm: beta != 0 needs out=");
    c = empty_tensor({M, N}, DType::float32, a.device);
  } else {
    c = py::cast<Tensor>(out);
    require(c, 2, DType::float32, "out");
    CN_CHECK(c.shape[0] == M && c.shape[1] == N, "out has shape ", c.shape_string(), ", expected (", M, ", ", N, ")");
    require_same_device(a, c, "a", "out");
    // Other blocks may still read a or b while one writes its tile of out.
    CN_CHECK(!overlaps(c, a) && !overlaps(c, b), "gemm: out must not share memory with a or b");
  }
  GemmEpilogue epilogue;
  epilogue.row_bias = row_bias ? row_bias->ptr<float>() : nullptr;
  epilogue.col_bias = col_bias ? col_bias->ptr<float>() : nullptr;
  epilogue.lo = lo;
  epilogue.hi = hi;
  py::gil_scoped_release release;
  (tf32 ? sgemm_tf32 : sgemm)(trans_a, trans_b, M, N, K, alpha, a.ptr<float>(), a.shape[1], b.ptr<float>(), b.shape[1],
                              beta, c.ptr<float>(), N, epilogue);
  return c;
}

}  // namespace

void bind_conv(py::module_& m) {
  m.def("conv2d", &conv2d, py::arg("input"), py::arg("weight"), py::arg("bias").none(true), py::arg("stride"),
        py::arg("padding"), py::arg("dilation"), py::arg("groups"), py::arg("algo"));
  m.def("conv2d_input", &conv2d_input, py::arg("input_size"), py::arg("weight"), py::arg("grad_output"),
        py::arg("stride"), py::arg("padding"), py::arg("dilation"), py::arg("groups"));
  m.def("conv2d_weight", &conv2d_weight, py::arg("input"), py::arg("weight_size"), py::arg("grad_output"),
        py::arg("stride"), py::arg("padding"), py::arg("dilation"), py::arg("groups"));
  m.def("conv_auto_algorithm", [](std::array<int64_t, 4> in, std::vector<int64_t> w, Pair stride, Pad4 pad,
                                   Pair dilation, int64_t groups) {
    return auto_algorithm(make_params(in, w, stride, pad, dilation, groups));
  });
  m.def("bias_grad", &bias_grad, py::arg("grad_output"));
  m.def("gemm", &gemm, py::arg("a"), py::arg("b"), py::arg("trans_a"), py::arg("trans_b"), py::arg("alpha"),
        py::arg("beta"), py::arg("out").none(true), py::arg("row_bias").none(true), py::arg("col_bias").none(true),
        py::arg("lo"), py::arg("hi"), py::arg("tf32") = false);
}

}  // namespace cuda
}  // namespace cnnnative
