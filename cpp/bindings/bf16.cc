// The bf16 GEMM (gemm/sbgemm.h) for tests and benchmarks: rounding, the kernel on an
// A x W^T product, the CPU's AVX512-BF16 support and its measured peak.
#include <pybind11/stl.h>

#include "arrays.h"
#include "gemm/sbgemm.h"
#include "registry.h"

using namespace cnnnative;

CNNNATIVE_BINDINGS(bf16) {
  m.def("bf16_supported", &bf16::cpu_has_avx512_bf16, "Does this CPU have AVX512-BF16 (vdpbf16ps)?");
  m.def("bf16_native", &bf16::native, "Do the AVX512-BF16 kernels run now (CPU support and active ISA avx512)?");
  m.def(
      "bf16_round",
      [](FloatArray x) {
        std::vector<int64_t> shape(x.shape(), x.shape() + x.ndim());
        auto y = new_float_array(shape);
        bf16::round_array(x.data(), y.mutable_data(), x.size());
        return y;
      },
      py::arg("x"), "fp32(bf16(x)): round to nearest even, NaN kept, denormals to signed zero.");
  m.def(
      "bf16_gemm",
      [](FloatArray a, FloatArray w, int threads) {
        require_ndim(a, 2, "a");
        require_ndim(w, 2, "w");
        CN_CHECK(a.shape(1) == w.shape(1), "bf16_gemm: a ", shape_string(a), " and w ", shape_string(w),
                 " must have the same number of columns (the depth k)");
        CN_CHECK(threads >= 1, "bf16_gemm: threads must be >= 1, got ", threads);
        const int64_t m_ = a.shape(0), n = w.shape(0), k = a.shape(1);
        auto c = new_float_array({m_, n});
        if (m_ == 0 || n == 0) return c;
        if (k == 0) {
          std::fill(c.mutable_data(), c.mutable_data() + m_ * n, 0.f);
          return c;
        }
        bf16::PackedWeights pw(w.data(), k, n, k);
        const float* pa = a.data();
        float* pc = c.mutable_data();
        {
          py::gil_scoped_release release;
          bf16::gemm(pa, k, m_, pw, pc, n, threads);
        }
        return c;
      },
      py::arg("a"), py::arg("w"), py::arg("threads") = 1,
      "c (m, n) = bf16(a) (m, k) @ bf16(w).T (k, n), fp32 accumulation; vdpbf16ps where it runs, "
      "else the rounded fp32 GEMM.");
  m.def("measure_bf16_peak", &bf16::measure_peak, py::arg("seconds") = 0.5,
        "One core's vdpbf16ps throughput in GFLOP/s (thread CPU time); 0 without AVX512-BF16.");
}
