// The int8 nodes of the engine's Plan (cnnnative.quantization builds them; see
// cnnnative/engine.h and src/engine/int8_nodes.h). Module functions taking the plan, so
// this file does not depend on the order in which EnginePlan's own bindings register.
#include <pybind11/stl.h>

#include <array>
#include <optional>

#include "activation_names.h"
#include "arrays.h"
#include "cnnnative/engine.h"
#include "cnnnative/quant.h"
#include "pool_window.h"
#include "registry.h"

using namespace cnnnative;

namespace {
namespace engine_int8_binding {  // a name per file: the bindings compile as unity sources
using namespace cnnnative::engine;  // here, not file-wide: the next file in the unity source would see it
using Pair = std::array<int64_t, 2>;
using Quad = std::array<int64_t, 4>;
using Int8Array = KernelArray<int8_t>;
using Q = Plan::QParams;

std::vector<float> vec(const FloatArray& a) { return std::vector<float>(a.data(), a.data() + a.size()); }
std::vector<int8_t> vec8(const Int8Array& a) { return std::vector<int8_t>(a.data(), a.data() + a.size()); }
std::vector<int64_t> dims(const py::array& a) {
  std::vector<int64_t> s;
  for (py::ssize_t i = 0; i < a.ndim(); ++i) s.push_back(a.shape(i));
  return s;
}

CNNNATIVE_BINDINGS(engine_int8) {
  m.def("buffer_elem_bytes", [](const Plan& p, int id) { return p.buffers().at(size_t(id)).elem_bytes; },
        py::arg("plan"), py::arg("id"), "4 for a float32 buffer, 1 for uint8.");
  m.def("plan_add_quantize", [](Plan& p, int input, float scale, int zero) { return p.add_quantize(input, scale, zero); },
        py::arg("plan"), py::arg("input"), py::arg("scale"), py::arg("zero_point"));
  m.def("plan_add_dequantize",
        [](Plan& p, int input, float scale, int zero) { return p.add_dequantize(input, scale, zero); },
        py::arg("plan"), py::arg("input"), py::arg("scale"), py::arg("zero_point"));
  m.def("plan_add_conv_int8",
        [](Plan& p, int input, std::pair<float, int> in, Int8Array w, FloatArray mult, FloatArray bias, Pair stride,
           Quad padding, Pair dilation, int64_t groups, const std::string& act, int residual,
           std::pair<float, int> res, bool out_u8, std::pair<float, int> out) {
          CN_CHECK(w.ndim() == 4, "conv_int8 weight must be 4-D (K, C/groups, R, S), got ", shape_string(w));
          return p.add_conv_int8(input, Q{in.first, in.second}, vec8(w), dims(w), vec(mult), vec(bias), stride[0],
                                 stride[1], std::vector<int64_t>(padding.begin(), padding.end()), dilation[0],
                                 dilation[1], groups, parse_activation(act), residual, Q{res.first, res.second},
                                 out_u8, Q{out.first, out.second});
        },
        py::arg("plan"), py::arg("input"), py::arg("in_q"), py::arg("weight"), py::arg("mult"), py::arg("bias"),
        py::arg("stride"), py::arg("padding"), py::arg("dilation"), py::arg("groups"), py::arg("activation"),
        py::arg("residual"), py::arg("res_q"), py::arg("out_u8"), py::arg("out_q"));
  m.def("plan_add_linear_int8",
        [](Plan& p, int input, std::pair<float, int> in, Int8Array w, FloatArray mult, FloatArray bias,
           const std::string& act, bool out_u8, std::pair<float, int> out) {
          CN_CHECK(w.ndim() == 2, "linear_int8 weight must be 2-D (out, in), got ", shape_string(w));
          return p.add_linear_int8(input, Q{in.first, in.second}, vec8(w), w.shape(0), w.shape(1), vec(mult),
                                   vec(bias), parse_activation(act), out_u8, Q{out.first, out.second});
        },
        py::arg("plan"), py::arg("input"), py::arg("in_q"), py::arg("weight"), py::arg("mult"), py::arg("bias"),
        py::arg("activation"), py::arg("out_u8"), py::arg("out_q"));
  m.def("plan_add_max_pool_u8",
        [](Plan& p, int input, Pair k, Pair s, Quad pad, Pair d, bool ceil_mode, std::pair<float, int> q,
           bool out_u8) {
          return p.add_max_pool_u8(input, bindings::pool_window(k, s, pad, d, ceil_mode, true), Q{q.first, q.second}, out_u8);
        },
        py::arg("plan"), py::arg("input"), py::arg("kernel_size"), py::arg("stride"), py::arg("padding"),
        py::arg("dilation"), py::arg("ceil_mode"), py::arg("q"), py::arg("out_u8"));
  m.def("plan_add_avg_pool_u8",
        [](Plan& p, int input, Pair k, Pair s, Quad pad, bool ceil_mode, bool count_include_pad,
           std::pair<float, int> q, bool out_u8) {
          return p.add_avg_pool_u8(input, bindings::pool_window(k, s, pad, {1, 1}, ceil_mode, count_include_pad),
                                   Q{q.first, q.second}, out_u8);
        },
        py::arg("plan"), py::arg("input"), py::arg("kernel_size"), py::arg("stride"), py::arg("padding"),
        py::arg("ceil_mode"), py::arg("count_include_pad"), py::arg("q"), py::arg("out_u8"));
  m.def("plan_add_global_avg_pool_u8",
        [](Plan& p, int input, std::pair<float, int> q, bool out_u8) {
          return p.add_global_avg_pool_u8(input, Q{q.first, q.second}, out_u8);
        },
        py::arg("plan"), py::arg("input"), py::arg("q"), py::arg("out_u8"));
  m.def("plan_add_concat_u8",
        [](Plan& p, const std::vector<int>& inputs, const std::vector<std::pair<float, int>>& in,
           std::pair<float, int> out) {
          std::vector<Q> qs;
          for (auto& x : in) qs.push_back(Q{x.first, x.second});
          return p.add_concat_u8(inputs, qs, Q{out.first, out.second});
        },
        py::arg("plan"), py::arg("inputs"), py::arg("in_q"), py::arg("out_q"));
}

}  // namespace engine_int8_binding
}  // namespace
