// int8 kernels (cnnnative/quant.h): exact int32 GEMM, depthwise and im2col, the int8 ISA
// and peak probe. Testing and benchmarking entry points; the int8 inference API builds on
// the C++ functions directly.
#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <optional>
#include <utility>

#include "arrays.h"
#include "cnnnative/quant.h"
#include "cnnnative/threads.h"
#include "registry.h"

using namespace cnnnative;

namespace {
namespace quant_binding {  // a name per file: the bindings compile as unity sources

template <typename T>
using Exact = py::array_t<T, py::array::c_style>;

// The array as a C-contiguous T array, without value conversion: int8 weights given as
// int64 (or uint8 activations as int8) would wrap silently, so the dtype must match.
template <typename T>
Exact<T> exact_array(const py::array& a, int ndim, const char* name, const char* dtype) {
  CN_CHECK(a.dtype().is(py::dtype::of<T>()), name, " must have dtype ", dtype, ", got ",
           std::string(py::str(a.dtype())));
  CN_CHECK(a.ndim() == ndim, name, " must be ", ndim, "-D, got shape ", shape_string(a));
  return Exact<T>::ensure(a);
}

std::pair<int64_t, int64_t> pair_arg(const std::vector<int64_t>& v, const char* name) {
  CN_CHECK(v.size() == 1 || v.size() == 2, name, " must have 1 or 2 values, got ", v.size());
  return {v[0], v.size() == 2 ? v[1] : v[0]};
}

ConvParams conv_params(const py::array& x, int64_t K, int64_t R, int64_t S, const std::vector<int64_t>& stride,
                       const std::vector<int64_t>& padding, const std::vector<int64_t>& dilation, int64_t groups) {
  ConvParams p;
  p.N = x.shape(0), p.C = x.shape(1), p.H = x.shape(2), p.W = x.shape(3);
  p.K = K, p.R = R, p.S = S;
  std::tie(p.stride_h, p.stride_w) = pair_arg(stride, "stride");
  std::tie(p.pad_top, p.pad_left) = pair_arg(padding, "padding");
  p.pad_bottom = p.pad_top, p.pad_right = p.pad_left;
  std::tie(p.dilation_h, p.dilation_w) = pair_arg(dilation, "dilation");
  p.groups = groups;
  p.validate();
  return p;
}

py::array_t<int32_t> gemm_packed(const quant::PackedWeightsS8& w, const py::array& x_in, bool single_thread,
                                 py::object out) {
  auto x = exact_array<uint8_t>(x_in, 2, "x", "uint8");
  CN_CHECK(x.shape(0) == w.K, "x has shape ", shape_string(x), ", expected (", w.K, ", N) for weights of shape (",
           w.M, ", ", w.K, ")");
  const int64_t N = x.shape(1);
  py::array_t<int32_t> c;
  if (out.is_none()) {
    c = py::array_t<int32_t>({static_cast<py::ssize_t>(w.M), static_cast<py::ssize_t>(N)});
  } else {
    // Written in place: it must already be exactly the result's array.
    CN_CHECK(py::isinstance<py::array_t<int32_t>>(out), "out must be an int32 array");
    c = out.cast<py::array_t<int32_t>>();
    CN_CHECK(c.dtype().is(py::dtype::of<int32_t>()) && c.ndim() == 2 && c.shape(0) == w.M && c.shape(1) == N &&
                 (c.flags() & py::array::c_style) && c.writeable(),
             "out must be a writeable C-contiguous int32 array of shape (", w.M, ", ", N, ")");
  }
  const uint8_t* px = x.data();
  int32_t* pc = c.mutable_data();
  const int64_t ld = std::max<int64_t>(N, 1);
  py::gil_scoped_release release;
  quant::gemm_s8u8_s32(w, N, px, ld, pc, ld, single_thread);
  return c;
}

quant::PackedWeightsS8 pack(const py::array& w_in, int64_t n_hint) {
  auto w = exact_array<int8_t>(w_in, 2, "w", "int8");
  CN_CHECK(n_hint >= 0, "n_hint must be >= 0, got ", n_hint);
  return quant::pack_weights_s8(w.data(), w.shape(0), w.shape(1), n_hint);
}

CNNNATIVE_BINDINGS(quant) {
  py::class_<quant::PackedWeightsS8>(m, "Int8PackedWeights",
                                     "int8 weights (M, K) packed for the active ISA's int8 GEMM kernel.")
      .def(py::init(&pack), py::arg("w"), py::arg("n_hint") = 0)
      .def_property_readonly("shape", [](const quant::PackedWeightsS8& w) { return py::make_tuple(w.M, w.K); })
      .def_property_readonly("row_sums", [](const quant::PackedWeightsS8& w) {
        return py::array_t<int32_t>(static_cast<py::ssize_t>(w.row_sums.size()), w.row_sums.data());
      }, "sum_k w[m, k] as int32, (M,).")
      .def_property_readonly("packed_bytes", [](const quant::PackedWeightsS8& w) { return w.data.size(); })
      .def_property_readonly("tile_rows", [](const quant::PackedWeightsS8& w) { return w.mr; },
                             "Rows per packed tile (64: the VNNI kernel with lanes along M, chosen for small n_hint).");
  m.def("int8_gemm_packed", &gemm_packed, py::arg("w"), py::arg("x"), py::arg("single_thread") = false,
        py::arg("out") = py::none(),
        "Exact int32 C (M, N) = w @ x for packed int8 w (M, K) and uint8 x (K, N); out: int32 (M, N).");
  m.def("int8_gemm", [](const py::array& w, const py::array& x, bool single_thread, int64_t n_hint) {
          return gemm_packed(pack(w, n_hint), x, single_thread, py::none());
        }, py::arg("w"), py::arg("x"), py::arg("single_thread") = false, py::arg("n_hint") = 0,
        "Exact int32 C (M, N) = w @ x for int8 w (M, K) and uint8 x (K, N) (packs w each call).");
  m.def("int8_depthwise",
        [](const py::array& x_in, const py::array& w_in, int zero_point, std::vector<int64_t> stride,
           std::vector<int64_t> padding, std::vector<int64_t> dilation, bool single_thread) {
          auto x = exact_array<uint8_t>(x_in, 4, "x", "uint8");
          auto w = exact_array<int8_t>(w_in, 4, "w", "int8");
          CN_CHECK(zero_point >= 0 && zero_point <= 255, "zero_point must be in [0, 255], got ", zero_point);
          CN_CHECK(w.shape(1) == 1, "w has shape ", shape_string(w), ", expected (K, 1, R, S)");
          const ConvParams p = conv_params(x, w.shape(0), w.shape(2), w.shape(3), stride, padding, dilation,
                                           x.shape(1));
          py::array_t<int32_t> y({static_cast<py::ssize_t>(p.N), static_cast<py::ssize_t>(p.K),
                                  static_cast<py::ssize_t>(p.output_h()), static_cast<py::ssize_t>(p.output_w())});
          const uint8_t* px = x.data();
          const int8_t* pw = w.data();
          int32_t* py_ = y.mutable_data();
          py::gil_scoped_release release;
          quant::depthwise_s8u8_s32(p, px, static_cast<uint8_t>(zero_point), pw, py_, single_thread);
          return y;
        },
        py::arg("x"), py::arg("w"), py::arg("zero_point") = 0, py::arg("stride") = std::vector<int64_t>{1},
        py::arg("padding") = std::vector<int64_t>{0}, py::arg("dilation") = std::vector<int64_t>{1},
        py::arg("single_thread") = false,
        "Exact int32 depthwise conv: uint8 x (N, C, H, W), int8 w (K, 1, R, S) with K a multiple of C;\n"
        "padding reads zero_point. Returns (N, K, OH, OW) int32.");
  m.def("int8_im2col",
        [](const py::array& x_in, int64_t R, int64_t S, std::vector<int64_t> stride, std::vector<int64_t> padding,
           std::vector<int64_t> dilation, int64_t groups, int64_t group, int zero_point) {
          auto x = exact_array<uint8_t>(x_in, 3, "x", "uint8");
          CN_CHECK(zero_point >= 0 && zero_point <= 255, "zero_point must be in [0, 255], got ", zero_point);
          py::array x4 = x.reshape({py::ssize_t{1}, x.shape(0), x.shape(1), x.shape(2)});
          const ConvParams p = conv_params(x4, groups, R, S, stride, padding, dilation, groups);
          py::array_t<uint8_t> out({static_cast<py::ssize_t>(p.channels_per_group() * R * S),
                                    static_cast<py::ssize_t>(p.output_h() * p.output_w())});
          quant::im2col_u8(p, x.data(), static_cast<uint8_t>(zero_point), group, out.mutable_data());
          return out;
        },
        py::arg("x"), py::arg("R"), py::arg("S"), py::arg("stride") = std::vector<int64_t>{1},
        py::arg("padding") = std::vector<int64_t>{0}, py::arg("dilation") = std::vector<int64_t>{1},
        py::arg("groups") = 1, py::arg("group") = 0, py::arg("zero_point") = 0,
        "im2col of one uint8 image x (C, H, W) for one group: (C/groups*R*S, OH*OW), padding = zero_point.");
  m.def("int8_isa", [] { return std::string(quant::int8_isa()); },
        "The int8 GEMM kernel the dispatch picks now: 'avx512_vnni', 'avx_vnni', 'avx2' or 'scalar' "
        "('avx_vnni_evex' when chosen by set_avx2_int8_kernel).");
  m.def("cpu_has_avx512_vnni", &quant::cpu_has_avx512_vnni, "Whether the CPU has AVX512-VNNI (and AVX-512 is usable).");
  m.def("cpu_has_avx_vnni", &quant::cpu_has_avx_vnni, "Whether the CPU has AVX-VNNI (VEX-encoded vpdpbusd).");
  m.def("avx_vnni_kernel_built", &quant::avx_vnni_kernel_built,
        "Whether this build has the AVX-VNNI int8 kernel (the compiler knew -mavxvnni).");
  m.def("set_avx2_int8_kernel",
        [](const std::string& name) { quant::set_avx2_int8_kernel(quant::avx2_int8_kernel_from_name(name)); },
        py::arg("name"),
        "The int8 GEMM kernel of the avx2 ISA (and of avx512 without AVX512-VNNI): 'auto' (AVX-VNNI where the CPU "
        "has it, else AVX2), 'avx2', 'avx_vnni', or 'avx_vnni_evex' (the AVX-VNNI kernel in EVEX encoding, for "
        "tests on AVX512-VNNI machines). Raises ValueError for one this CPU or build cannot run. The environment "
        "variable CNNNATIVE_AVX2_INT8_KERNEL sets it at first use.");
  m.def("avx2_int8_kernel", [] { return std::string(quant::avx2_int8_kernel_name(quant::avx2_int8_kernel())); },
        "The choice set by set_avx2_int8_kernel ('auto' unless changed).");
  m.def("measure_int8_peak",
        [](double seconds, std::optional<int> threads, bool thread_cpu_time) {
          const int n = threads ? *threads : num_threads();
          py::gil_scoped_release release;
          return quant::measure_int8_peak(seconds, n, thread_cpu_time);
        },
        py::arg("seconds") = 0.2, py::arg("threads") = py::none(), py::arg("thread_cpu_time") = false,
        "Peak int8 multiply-add rate of the int8_isa() kernel in GOPS (multiply-add = 2 ops).");
}

}  // namespace quant_binding
}  // namespace
