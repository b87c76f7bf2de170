// sgemm: C = alpha * op(A) @ op(B) + beta * C (+ epilogue), and the FMA peak probe.
#include <pybind11/stl.h>

#include <algorithm>
#include <cmath>
#include <optional>

#include "arrays.h"
#include "out_array.h"
#include "cnnnative/gemm.h"
#include "cnnnative/thread_pool.h"
#include "cnnnative/threads.h"
#include "registry.h"

using namespace cnnnative;

namespace {
namespace gemm_binding {  // a name per file: the bindings compile as unity sources

// A 1-D float32 bias of `n` values, or nullopt.
std::optional<FloatArray> checked_bias(const std::optional<FloatArray>& bias, int64_t n,
                                       const char* name) {
  if (!bias) return std::nullopt;
  require_ndim(*bias, 1, name);
  CN_CHECK(bias->shape(0) == n, name, " has shape ", shape_string(*bias), ", expected (", n, ",)");
  return bias;
}

py::array_t<float> gemm_binding(FloatArray a, FloatArray b, bool trans_a, bool trans_b,
                                float alpha, float beta, py::object out,
                                std::optional<FloatArray> row_bias,
                                std::optional<FloatArray> col_bias, float clamp_min,
                                float clamp_max, bool single_thread) {
  require_ndim(a, 2, "a");
  require_ndim(b, 2, "b");
  const int64_t M = trans_a ? a.shape(1) : a.shape(0);
  const int64_t K = trans_a ? a.shape(0) : a.shape(1);
  const int64_t Kb = trans_b ? b.shape(1) : b.shape(0);
  const int64_t N = trans_b ? b.shape(0) : b.shape(1);
  CN_CHECK(K == Kb, "gemm: inner dimensions differ: op(a) is ", M, "x", K, " (a has shape ",
           shape_string(a), trans_a ? ", transposed" : "", "), op(b) is ", Kb, "x", N,
           " (b has shape ", shape_string(b), trans_b ? ", transposed" : "", ")");
  CN_CHECK(!std::isnan(clamp_min) && !std::isnan(clamp_max) && clamp_min <= clamp_max,
           "gemm: clamp bounds must satisfy clamp_min <= clamp_max, got (", clamp_min, ", ",
           clamp_max, ")");
  row_bias = checked_bias(row_bias, M, "row_bias");
  col_bias = checked_bias(col_bias, N, "col_bias");
  py::array_t<float> c;
  if (!out.is_none()) {
    // The exact array we write into (a converted copy would be silently discarded); the
    // kernel reads a and b throughout, so out must not overlap them.
    c = checked_out(out, {M, N}, {}, {&a, &b}, "gemm");
  } else {
    CN_CHECK(beta == 0.f, "gemm: beta=", beta, " needs out= (the C it scales)");
    c = new_float_array({M, N});
  }
  GemmEpilogue ep;
  ep.row_bias = row_bias ? row_bias->data() : nullptr;
  ep.col_bias = col_bias ? col_bias->data() : nullptr;
  ep.clamp_min = clamp_min;
  ep.clamp_max = clamp_max;
  const float* pa = a.data();
  const float* pb = b.data();
  float* pc = c.mutable_data();
  // Leading dimensions must be >= 1 even for empty arrays.
  const int64_t lda = std::max<int64_t>(1, a.shape(1));
  const int64_t ldb = std::max<int64_t>(1, b.shape(1));
  const int64_t ldc = std::max<int64_t>(1, N);
  {
    py::gil_scoped_release release;
    if (single_thread)
      sgemm_ex_single_thread(trans_a, trans_b, M, N, K, alpha, pa, lda, pb, ldb, beta, pc, ldc, ep);
    else
      sgemm_ex(trans_a, trans_b, M, N, K, alpha, pa, lda, pb, ldb, beta, pc, ldc, ep);
  }
  return c;
}

// Testing aid: C[i] = A[i] @ B[i] for a batch, one batch item per item of a dynamic team
// loop, the way conv code calls SGEMM from inside its own parallel region. With
// use_sgemm the inner call is the threaded sgemm (which must then run on one thread).
py::array_t<float> batched_in_parallel(FloatArray a, FloatArray b, bool use_sgemm) {
  require_ndim(a, 3, "a");
  require_ndim(b, 3, "b");
  const int64_t batch = a.shape(0), M = a.shape(1), K = a.shape(2), N = b.shape(2);
  CN_CHECK(b.shape(0) == batch && b.shape(1) == K, "b has shape ", shape_string(b),
           ", expected (", batch, ", ", K, ", N)");
  FloatArray c = new_float_array({batch, M, N});
  const float* pa = a.data();
  const float* pb = b.data();
  float* pc = c.mutable_data();
  {
    py::gil_scoped_release release;
    team_for_each_dynamic(num_threads(), batch, 1, [&](int64_t i) {
      const float* ai = pa + i * M * K;
      const float* bi = pb + i * K * N;
      float* ci = pc + i * M * N;
      const int64_t lda = std::max<int64_t>(1, K), ldb = std::max<int64_t>(1, N),
                    ldc = std::max<int64_t>(1, N);
      if (use_sgemm)
        sgemm(false, false, M, N, K, 1.f, ai, lda, bi, ldb, 0.f, ci, ldc);
      else
        sgemm_single_thread(false, false, M, N, K, 1.f, ai, lda, bi, ldb, 0.f, ci, ldc);
    });
  }
  return c;
}

CNNNATIVE_BINDINGS(gemm) {
  m.def("gemm", &gemm_binding, py::arg("a"), py::arg("b"), py::arg("trans_a") = false,
        py::arg("trans_b") = false, py::arg("alpha") = 1.0f, py::arg("beta") = 0.0f,
        py::arg("out") = py::none(), py::arg("row_bias") = py::none(),
        py::arg("col_bias") = py::none(), py::arg("clamp_min") = -INFINITY,
        py::arg("clamp_max") = INFINITY, py::arg("single_thread") = false,
        "C = clamp(alpha * op(a) @ op(b) + beta * out + row_bias[:, None] + col_bias[None, :]).\n"
        "a, b: 2-D float32 (converted if not); out: float32 C-contiguous writeable (M, N).");
  m.def("sgemm_blocking", [](int64_t M, int64_t N, int64_t K, bool trans_b) {
          CN_CHECK(M >= 0 && N >= 0 && K >= 0, "sgemm_blocking: M, N and K must be >= 0, got ", M,
                   ", ", N, ", ", K);
          const SgemmBlocking b = sgemm_blocking(M, N, K, trans_b);
          py::dict d;
          d["kernel"] = b.kernel;
          d["mr"] = b.mr;
          d["nr"] = b.nr;
          d["mc"] = b.mc;
          d["kc"] = b.kc;
          d["nc"] = b.nc;
          d["transposed"] = b.transposed;
          return d;
        }, py::arg("M") = 1024, py::arg("N") = 1024, py::arg("K") = 1024,
        py::arg("trans_b") = false,
        "Tile (mr, nr), cache blocks (mc, kc, nc) and kernel name the active ISA's SGEMM uses\n"
        "for an M x N x K product; transposed: it computes C^T (N x M) and transposes it.");
  m.def("sgemm_kernels", &sgemm_kernels, "Tiles the active ISA chooses from, by name.");
  m.def("_sgemm_variants", &sgemm_variants, "Testing aid: every SGEMM tile/blocking compiled in.");
  m.def("_force_sgemm_kernel", &force_sgemm_kernel, py::arg("name"),
        "Testing aid: force an SGEMM tile by name for calls on its ISA ('' = automatic).");
  m.def("_sgemm_batched_in_parallel", &batched_in_parallel, py::arg("a"), py::arg("b"),
        py::arg("use_sgemm") = false,
        "Testing aid: (B, M, K) @ (B, K, N), one SGEMM per item of a team loop.");
  m.def("_set_sgemm_poison_scratch", &set_sgemm_poison_scratch, py::arg("on"),
        "Testing aid: fill SGEMM pack buffers with NaN before each call.");
  m.def("measure_fma_peak",
        [](double seconds, std::optional<int> threads, bool thread_cpu_time) {
          const int n = threads ? *threads : num_threads();
          py::gil_scoped_release release;
          return measure_fma_peak(seconds, n, thread_cpu_time);
        },
        py::arg("seconds") = 0.2, py::arg("threads") = py::none(),
        py::arg("thread_cpu_time") = false,
        "Peak FP32 FMA rate in GFLOP/s on `threads` threads (default: the library's).\n"
        "thread_cpu_time=True (threads=1 only) times by the thread's CPU time.");
}

}  // namespace gemm_binding
}  // namespace
