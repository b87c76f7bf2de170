// sgemm: C = alpha * op(A) @ op(B) + beta * C.
#include <pybind11/stl.h>

#include <optional>

#include "arrays.h"
#include "cnnnative/gemm.h"
#include "registry.h"

using namespace cnnnative;

static py::array_t<float> gemm_binding(FloatArray a, FloatArray b, bool trans_a, bool trans_b,
                                       float alpha, float beta,
                                       std::optional<py::array_t<float>> out) {
  require_ndim(a, 2, "a");
  require_ndim(b, 2, "b");
  const int64_t M = trans_a ? a.shape(1) : a.shape(0);
  const int64_t K = trans_a ? a.shape(0) : a.shape(1);
  const int64_t Kb = trans_b ? b.shape(1) : b.shape(0);
  const int64_t N = trans_b ? b.shape(0) : b.shape(1);
  CN_CHECK(K == Kb, "gemm: inner dimensions differ: op(a) is ", M, "x", K, ", op(b) is ", Kb, "x", N);
  py::array_t<float> c;
  if (out) {
    require_output(*out, {M, N}, "out");
    c = *out;
  } else {
    CN_CHECK(beta == 0.f, "gemm: beta != 0 needs out= (the C it scales)");
    c = new_float_array({M, N});
  }
  const float* pa = a.data();
  const float* pb = b.data();
  float* pc = c.mutable_data();
  {
    py::gil_scoped_release release;
    sgemm(trans_a, trans_b, M, N, K, alpha, pa, a.shape(1), pb, b.shape(1), beta, pc, N);
  }
  return c;
}

CNNNATIVE_BINDINGS(gemm) {
  m.def("gemm", &gemm_binding, py::arg("a"), py::arg("b"), py::arg("trans_a") = false,
        py::arg("trans_b") = false, py::arg("alpha") = 1.0f, py::arg("beta") = 0.0f,
        py::arg("out") = py::none(),
        "C = alpha * op(a) @ op(b) + beta * out. a, b: 2-D float32 (converted if not).");
}
