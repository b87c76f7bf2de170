// Normalization bindings: argument checks (names and sizes in every message), array
// conversion, GIL release around the kernels. Semantics follow torch.nn.functional;
// see python/cnnnative/ops/norm.py for the public wrappers and their docstrings.
#include <pybind11/stl.h>

#include <optional>
#include <vector>

#include "arrays.h"
#include "norm/norm.h"
#include "registry.h"

using namespace cnnnative;
using norm::NormShape;
using OptArray = std::optional<FloatArray>;

namespace {
namespace norm_binding {  // a name per file: the bindings compile as unity sources

// (N, C, S) view of an input with at least `min_ndim` dimensions.
NormShape ncs_shape(const py::array& a, const char* name, py::ssize_t min_ndim) {
  CN_CHECK(a.ndim() >= min_ndim, name, " must have at least ", min_ndim,
           " dimensions (N, C, ...), got shape ", shape_string(a));
  NormShape s;
  s.N = a.shape(0);
  s.C = a.shape(1);
  s.S = 1;
  for (py::ssize_t i = 2; i < a.ndim(); ++i) s.S = checked_mul(s.S, a.shape(i), "spatial size");
  s.validate();
  return s;
}

std::vector<int64_t> shape_of(const py::array& a) {
  return std::vector<int64_t>(a.shape(), a.shape() + a.ndim());
}

void require_same_shape(const py::array& a, const char* a_name, const py::array& b,
                        const char* b_name) {
  CN_CHECK(shape_of(a) == shape_of(b), a_name, " has shape ", shape_string(a), " but ", b_name,
           " has shape ", shape_string(b), "; they must match");
}

// A per-channel vector: 1-D with `count` elements.
void require_vector(const py::array& a, int64_t count, const char* name, const char* what) {
  CN_CHECK(a.ndim() == 1 && a.shape(0) == count, name, " must have shape (", count, ",) (", what,
           "), got shape ", shape_string(a));
}

const float* data_or_null(const OptArray& a) { return a ? a->data() : nullptr; }

// running_mean / running_var are updated in place, so they cannot be converted copies.
float* running_stat(const py::object& obj, int64_t C, const char* name) {
  if (obj.is_none()) return nullptr;
  CN_CHECK(py::isinstance<py::array>(obj), name, " must be a numpy float32 array of shape (", C,
           ",) (it is updated in place), got ", std::string(py::str(py::type::of(obj))));
  auto a = py::reinterpret_borrow<py::array>(obj);
  CN_CHECK(a.dtype().is(py::dtype::of<float>()), name,
           " must be float32 (it is updated in place), got dtype ", std::string(py::str(a.dtype())));
  require_vector(a, C, name, "one value per channel");
  CN_CHECK((a.flags() & py::array::c_style) && a.writeable(), name,
           " must be C-contiguous and writeable (it is updated in place)");
  require_aligned(a, name);
  return static_cast<float*>(a.mutable_data());
}

py::tuple batch_norm_forward(FloatArray x, py::object running_mean, py::object running_var,
                             OptArray weight, OptArray bias, bool training, double momentum,
                             double eps) {
  const NormShape s = ncs_shape(x, "input", 2);
  float* rm = running_stat(running_mean, s.C, "running_mean");
  float* rv = running_stat(running_var, s.C, "running_var");
  CN_CHECK((rm == nullptr) == (rv == nullptr),
           "running_mean and running_var must both be arrays or both be None");
  CN_CHECK(training || rm, "batch_norm in eval mode (training=False) needs running_mean and running_var");
  if (weight) require_vector(*weight, s.C, "weight", "one value per channel");
  if (bias) require_vector(*bias, s.C, "bias", "one value per channel");
  CN_CHECK(eps >= 0.0, "eps must be >= 0, got ", eps);
  CN_CHECK(!training || s.N * s.S != 1,
           "Expected more than 1 value per channel when training, got input size ", shape_string(x));
  auto y = new_float_array(shape_of(x));
  auto save_mean = new_float_array({s.C}), save_invstd = new_float_array({s.C});
  const float *px = x.data(), *pw = data_or_null(weight), *pb = data_or_null(bias);
  float *py_ = y.mutable_data(), *pm = save_mean.mutable_data(), *pi = save_invstd.mutable_data();
  {
    py::gil_scoped_release release;
    norm::batch_norm_forward(s, px, pw, pb, rm, rv, training, momentum, eps, py_, pm, pi);
  }
  return py::make_tuple(y, save_mean, save_invstd);
}

py::tuple batch_norm_backward(FloatArray dy, FloatArray x, OptArray weight, FloatArray save_mean,
                              FloatArray save_invstd, bool training) {
  const NormShape s = ncs_shape(x, "input", 2);
  require_same_shape(dy, "grad_output", x, "input");
  if (weight) require_vector(*weight, s.C, "weight", "one value per channel");
  require_vector(save_mean, s.C, "save_mean", "one value per channel");
  require_vector(save_invstd, s.C, "save_invstd", "one value per channel");
  auto dx = new_float_array(shape_of(x));
  py::object dw = py::none(), db = py::none();
  float *pdw = nullptr, *pdb = nullptr;
  if (weight) {
    auto w = new_float_array({s.C}), b = new_float_array({s.C});
    pdw = w.mutable_data();
    pdb = b.mutable_data();
    dw = w;
    db = b;
  }
  const float *pdy = dy.data(), *px = x.data(), *pw = data_or_null(weight);
  const float *pm = save_mean.data(), *pi = save_invstd.data();
  float* pdx = dx.mutable_data();
  {
    py::gil_scoped_release release;
    norm::batch_norm_backward(s, pdy, px, pw, pm, pi, training, pdx, pdw, pdb);
  }
  return py::make_tuple(dx, dw, db);
}

void check_group_args(const NormShape& s, int64_t groups, const OptArray& weight, const OptArray& bias) {
  CN_CHECK(groups >= 1, "num_groups must be >= 1, got ", groups);
  CN_CHECK(s.C % groups == 0, "num_groups=", groups, " must divide the number of channels C=", s.C);
  if (weight) require_vector(*weight, s.C, "weight", "one value per channel");
  if (bias) require_vector(*bias, s.C, "bias", "one value per channel");
}

py::tuple group_norm_forward(FloatArray x, int64_t groups, OptArray weight, OptArray bias,
                             double eps) {
  const NormShape s = ncs_shape(x, "input", 2);
  check_group_args(s, groups, weight, bias);
  CN_CHECK(eps >= 0.0, "eps must be >= 0, got ", eps);
  auto y = new_float_array(shape_of(x));
  auto mean = new_float_array({s.N, groups}), rstd = new_float_array({s.N, groups});
  const float *px = x.data(), *pw = data_or_null(weight), *pb = data_or_null(bias);
  float *py_ = y.mutable_data(), *pm = mean.mutable_data(), *pr = rstd.mutable_data();
  {
    py::gil_scoped_release release;
    norm::group_norm_forward(s, groups, px, pw, pb, eps, py_, pm, pr);
  }
  return py::make_tuple(y, mean, rstd);
}

py::tuple group_norm_backward(FloatArray dy, FloatArray x, int64_t groups, FloatArray mean,
                              FloatArray rstd, OptArray weight) {
  const NormShape s = ncs_shape(x, "input", 2);
  require_same_shape(dy, "grad_output", x, "input");
  check_group_args(s, groups, weight, std::nullopt);
  const int64_t rows = checked_mul(s.N, groups);
  CN_CHECK(mean.size() == rows && rstd.size() == rows, "mean and rstd must have N * num_groups = ",
           rows, " values (shape (", s.N, ", ", groups, ")), got shapes ", shape_string(mean),
           " and ", shape_string(rstd));
  auto dx = new_float_array(shape_of(x));
  py::object dw = py::none(), db = py::none();
  float *pdw = nullptr, *pdb = nullptr;
  if (weight) {
    auto w = new_float_array({s.C}), b = new_float_array({s.C});
    pdw = w.mutable_data();
    pdb = b.mutable_data();
    dw = w;
    db = b;
  }
  const float *pdy = dy.data(), *px = x.data(), *pm = mean.data(), *pr = rstd.data();
  const float* pw = data_or_null(weight);
  float* pdx = dx.mutable_data();
  {
    py::gil_scoped_release release;
    norm::group_norm_backward(s, groups, pdy, px, pm, pr, pw, pdx, pdw, pdb);
  }
  return py::make_tuple(dx, dw, db);
}

// Layer norm's (rows, D) view: the trailing dims must equal normalized_shape.
std::pair<int64_t, int64_t> layer_rows(const py::array& x, const std::vector<int64_t>& normalized) {
  const py::ssize_t k = static_cast<py::ssize_t>(normalized.size());
  CN_CHECK(k >= 1, "normalized_shape must have at least one dimension");
  bool ok = x.ndim() >= k;
  for (py::ssize_t i = 0; ok && i < k; ++i) ok = x.shape(x.ndim() - k + i) == normalized[i];
  if (!ok) {
    std::string ns = "(";
    for (py::ssize_t i = 0; i < k; ++i) ns += (i ? ", " : "") + std::to_string(normalized[i]);
    CN_CHECK(false, "normalized_shape ", ns, (k == 1 ? ",)" : ")"),
             " must equal the trailing dimensions of input, got input shape ", shape_string(x));
  }
  int64_t rows = 1, D = 1;
  for (py::ssize_t i = 0; i < x.ndim() - k; ++i) rows = checked_mul(rows, x.shape(i), "layer_norm rows");
  for (py::ssize_t i = x.ndim() - k; i < x.ndim(); ++i) D = checked_mul(D, x.shape(i), "layer_norm size");
  checked_mul(rows, D, "layer_norm input size");
  return {rows, D};
}

void require_normalized(const OptArray& a, const std::vector<int64_t>& normalized, const char* name) {
  if (!a) return;
  CN_CHECK(shape_of(*a) == normalized, name, " must have shape normalized_shape, got ",
           shape_string(*a));
}

py::tuple layer_norm_forward(FloatArray x, std::vector<int64_t> normalized, OptArray weight,
                             OptArray bias, double eps) {
  const auto [rows, D] = layer_rows(x, normalized);
  require_normalized(weight, normalized, "weight");
  require_normalized(bias, normalized, "bias");
  CN_CHECK(eps >= 0.0, "eps must be >= 0, got ", eps);
  auto y = new_float_array(shape_of(x));
  // mean and rstd keep the input's leading dims, with 1 for each normalized dim (as torch).
  std::vector<int64_t> stat_shape = shape_of(x);
  for (size_t i = stat_shape.size() - normalized.size(); i < stat_shape.size(); ++i) stat_shape[i] = 1;
  auto mean = new_float_array(stat_shape), rstd = new_float_array(stat_shape);
  const float *px = x.data(), *pw = data_or_null(weight), *pb = data_or_null(bias);
  float *py_ = y.mutable_data(), *pm = mean.mutable_data(), *pr = rstd.mutable_data();
  {
    py::gil_scoped_release release;
    norm::layer_norm_forward(rows, D, px, pw, pb, eps, py_, pm, pr);
  }
  return py::make_tuple(y, mean, rstd);
}

py::tuple layer_norm_backward(FloatArray dy, FloatArray x, std::vector<int64_t> normalized,
                              FloatArray mean, FloatArray rstd, OptArray weight) {
  const auto [rows, D] = layer_rows(x, normalized);
  require_same_shape(dy, "grad_output", x, "input");
  require_normalized(weight, normalized, "weight");
  CN_CHECK(mean.size() == rows && rstd.size() == rows, "mean and rstd must have one value per row (",
           rows, "), got shapes ", shape_string(mean), " and ", shape_string(rstd));
  auto dx = new_float_array(shape_of(x));
  py::object dw = py::none(), db = py::none();
  float *pdw = nullptr, *pdb = nullptr;
  if (weight) {
    auto w = new_float_array(normalized), b = new_float_array(normalized);
    pdw = w.mutable_data();
    pdb = b.mutable_data();
    dw = w;
    db = b;
  }
  const float *pdy = dy.data(), *px = x.data(), *pm = mean.data(), *pr = rstd.data();
  const float* pw = data_or_null(weight);
  float* pdx = dx.mutable_data();
  {
    py::gil_scoped_release release;
    norm::layer_norm_backward(rows, D, pdy, px, pm, pr, pw, pdx, pdw, pdb);
  }
  return py::make_tuple(dx, dw, db);
}

norm::LrnParams lrn_params(int64_t size, double alpha, double beta, double k) {
  norm::LrnParams p;
  p.size = size;
  p.alpha = alpha;
  p.beta = beta;
  p.k = k;
  p.validate();
  return p;
}

FloatArray local_response_norm(FloatArray x, int64_t size, double alpha, double beta, double k) {
  const NormShape s = ncs_shape(x, "input", 3);
  const norm::LrnParams p = lrn_params(size, alpha, beta, k);
  auto y = new_float_array(shape_of(x));
  const float* px = x.data();
  float* py_ = y.mutable_data();
  {
    py::gil_scoped_release release;
    norm::local_response_norm_forward(s, p, px, py_);
  }
  return y;
}

FloatArray local_response_norm_backward(FloatArray dy, FloatArray x, int64_t size, double alpha,
                                        double beta, double k) {
  const NormShape s = ncs_shape(x, "input", 3);
  require_same_shape(dy, "grad_output", x, "input");
  const norm::LrnParams p = lrn_params(size, alpha, beta, k);
  auto dx = new_float_array(shape_of(x));
  const float *pdy = dy.data(), *px = x.data();
  float* pdx = dx.mutable_data();
  {
    py::gil_scoped_release release;
    norm::local_response_norm_backward(s, p, pdy, px, pdx);
  }
  return dx;
}

CNNNATIVE_BINDINGS(norm) {
  m.def("batch_norm_forward", &batch_norm_forward, py::arg("input"), py::arg("running_mean"),
        py::arg("running_var"), py::arg("weight"), py::arg("bias"), py::arg("training"),
        py::arg("momentum"), py::arg("eps"),
        "-> (output, save_mean, save_invstd); running stats updated in place when training");
  m.def("batch_norm_backward", &batch_norm_backward, py::arg("grad_output"), py::arg("input"),
        py::arg("weight"), py::arg("save_mean"), py::arg("save_invstd"), py::arg("training"),
        "-> (grad_input, grad_weight or None, grad_bias or None)");
  m.def("group_norm_forward", &group_norm_forward, py::arg("input"), py::arg("num_groups"),
        py::arg("weight"), py::arg("bias"), py::arg("eps"), "-> (output, mean, rstd), (N, G) each");
  m.def("group_norm_backward", &group_norm_backward, py::arg("grad_output"), py::arg("input"),
        py::arg("num_groups"), py::arg("mean"), py::arg("rstd"), py::arg("weight"),
        "-> (grad_input, grad_weight or None, grad_bias or None)");
  m.def("layer_norm_forward", &layer_norm_forward, py::arg("input"), py::arg("normalized_shape"),
        py::arg("weight"), py::arg("bias"), py::arg("eps"), "-> (output, mean, rstd)");
  m.def("layer_norm_backward", &layer_norm_backward, py::arg("grad_output"), py::arg("input"),
        py::arg("normalized_shape"), py::arg("mean"), py::arg("rstd"), py::arg("weight"),
        "-> (grad_input, grad_weight or None, grad_bias or None)");
  m.def("local_response_norm", &local_response_norm, py::arg("input"), py::arg("size"),
        py::arg("alpha"), py::arg("beta"), py::arg("k"));
  m.def("local_response_norm_backward", &local_response_norm_backward, py::arg("grad_output"),
        py::arg("input"), py::arg("size"), py::arg("alpha"), py::arg("beta"), py::arg("k"));
}

}  // namespace norm_binding
}  // namespace
