// Loss bindings: cross_entropy forward (per-row losses) and backward with label checks and
// PyTorch's options; the elementwise MSE and BCE-with-logits losses.
#include <pybind11/stl.h>

#include <optional>

#include "act/debug_fill.h"
#include "arrays.h"
#include "loss/cross_entropy.h"
#include "loss/pointwise.h"
#include "registry.h"

using namespace cnnnative;

namespace {
namespace loss_binding {  // a name per file: the bindings compile as unity sources

// Options from the Python arguments; weight (classes,) is checked against the input.
CrossEntropyOptions options(const py::array& x, const std::optional<FloatArray>& weight,
                            std::optional<int64_t> ignore_index, float label_smoothing, const char* op) {
  CrossEntropyOptions opt;
  if (weight) {
    require_ndim(*weight, 1, "weight");
    CN_CHECK(weight->shape(0) == x.shape(1), op, ": weight has ", weight->shape(0), " entries but input has ",
             x.shape(1), " classes (shape ", shape_string(x), ")");
    opt.class_weight = weight->data();
    double sum = 0.0;
    for (int64_t j = 0; j < weight->shape(0); ++j) sum += weight->data()[j];
    opt.weight_sum = static_cast<float>(sum);
  } else {
    opt.weight_sum = static_cast<float>(x.shape(1));
  }
  if (ignore_index) {
    opt.has_ignore = true;
    opt.ignore_index = *ignore_index;
  }
  CN_CHECK(label_smoothing >= 0.0f && label_smoothing <= 1.0f, op,
           ": label_smoothing must be in [0, 1], got ", label_smoothing);
  opt.label_smoothing = label_smoothing;
  return opt;
}

void check_inputs(const py::array& x, const IndexArray& target, const CrossEntropyOptions& opt, const char* op) {
  require_ndim(x, 2, "input");
  require_ndim(target, 1, "target");
  CN_CHECK(x.shape(1) >= 1, op, ": input must have at least one class, got shape ", shape_string(x));
  CN_CHECK(target.shape(0) == x.shape(0), op, ": target has ", target.shape(0), " labels but input has ",
           x.shape(0), " rows (shape ", shape_string(x), ")");
  const int64_t* t = target.data();
  const int64_t C = x.shape(1);
  for (int64_t i = 0; i < target.shape(0); ++i)
    CN_CHECK((t[i] >= 0 && t[i] < C) || (opt.has_ignore && t[i] == opt.ignore_index), op, ": target[", i, "] = ", t[i], " is not a class index in [0, ", C,
             ")");
}

// Per-row losses (N,) float32; the Python side reduces them in float64.
py::array_t<float> forward(FloatArray x, IndexArray target, std::optional<FloatArray> weight,
                           std::optional<int64_t> ignore_index, float label_smoothing) {
  require_ndim(x, 2, "input");
  const CrossEntropyOptions opt = options(x, weight, ignore_index, label_smoothing, "cross_entropy");
  check_inputs(x, target, opt, "cross_entropy");
  const int64_t N = x.shape(0), C = x.shape(1);
  auto loss = new_float_array({N});
  const float* px = x.data();
  const int64_t* pt = target.data();
  float* pl = loss.mutable_data();
  poison(pl, static_cast<int64_t>(loss.size()));
  {
    py::gil_scoped_release release;
    cross_entropy_forward(px, pt, N, C, opt, pl);
  }
  return loss;
}

// grad_input = (softmax(x) - onehot) * scale, where scale is a number or one per row.
py::array_t<float> backward(FloatArray x, IndexArray target, float scale, std::optional<FloatArray> row_scale,
                            std::optional<FloatArray> weight, std::optional<int64_t> ignore_index,
                            float label_smoothing) {
  require_ndim(x, 2, "input");
  const CrossEntropyOptions opt = options(x, weight, ignore_index, label_smoothing, "cross_entropy_backward");
  check_inputs(x, target, opt, "cross_entropy_backward");
  const int64_t N = x.shape(0), C = x.shape(1);
  if (row_scale) {
    require_ndim(*row_scale, 1, "grad");
    CN_CHECK(row_scale->shape(0) == N, "cross_entropy_backward: grad has shape ", shape_string(*row_scale),
             " but there are ", N, " rows");
  }
  auto gx = new_float_array({N, C});
  const float* px = x.data();
  const int64_t* pt = target.data();
  const float* prs = row_scale ? row_scale->data() : nullptr;
  float* pg = gx.mutable_data();
  poison(pg, static_cast<int64_t>(gx.size()));
  {
    py::gil_scoped_release release;
    cross_entropy_backward(px, pt, N, C, opt, prs, scale, pg);
  }
  return gx;
}

// The arrays of an elementwise loss all have the input's shape (Python broadcasts first).
void check_same_shape(const py::array& x, const py::array& other, const char* name, const char* op) {
  bool same = other.ndim() == x.ndim();
  for (py::ssize_t d = 0; same && d < x.ndim(); ++d) same = other.shape(d) == x.shape(d);
  CN_CHECK(same, op, ": ", name, " has shape ", shape_string(other), " but input has shape ", shape_string(x));
}

const float* optional_data(const std::optional<FloatArray>& a, const py::array& x, const char* name,
                           const char* op) {
  if (!a) return nullptr;
  check_same_shape(x, *a, name, op);
  return a->data();
}

std::vector<int64_t> shape_of(const py::array& x) { return std::vector<int64_t>(x.shape(), x.shape() + x.ndim()); }

// Per-element losses (reduce=False) or their float64 sum (reduce=True).
py::object mse_forward(FloatArray x, FloatArray y, bool reduce) {
  check_same_shape(x, y, "target", "mse_loss");
  const int64_t n = static_cast<int64_t>(x.size());
  if (reduce) {
    double total;
    {
      py::gil_scoped_release release;
      total = mse_loss_forward(x.data(), y.data(), n, nullptr);
    }
    return py::float_(total);  // built with the GIL held
  }
  auto out = new_float_array(shape_of(x));
  float* po = out.mutable_data();
  {
    py::gil_scoped_release release;
    mse_loss_forward(x.data(), y.data(), n, po);
  }
  return std::move(out);
}

py::array_t<float> mse_backward(FloatArray x, FloatArray y, float scale, std::optional<FloatArray> grad) {
  check_same_shape(x, y, "target", "mse_loss_backward");
  const float* pg = optional_data(grad, x, "grad", "mse_loss_backward");
  auto gx = new_float_array(shape_of(x));
  float* po = gx.mutable_data();
  poison(po, static_cast<int64_t>(gx.size()));
  {
    py::gil_scoped_release release;
    mse_loss_backward(x.data(), y.data(), static_cast<int64_t>(x.size()), pg, scale, po);
  }
  return gx;
}

py::object bce_forward(FloatArray x, FloatArray y, std::optional<FloatArray> weight,
                       std::optional<FloatArray> pos_weight, bool reduce) {
  const char* op = "binary_cross_entropy_with_logits";
  check_same_shape(x, y, "target", op);
  const float* pw = optional_data(weight, x, "weight", op);
  const float* pp = optional_data(pos_weight, x, "pos_weight", op);
  const int64_t n = static_cast<int64_t>(x.size());
  if (reduce) {
    double total;
    {
      py::gil_scoped_release release;
      total = bce_with_logits_forward(x.data(), y.data(), pw, pp, n, nullptr);
    }
    return py::float_(total);  // built with the GIL held
  }
  auto out = new_float_array(shape_of(x));
  float* po = out.mutable_data();
  {
    py::gil_scoped_release release;
    bce_with_logits_forward(x.data(), y.data(), pw, pp, n, po);
  }
  return std::move(out);
}

py::array_t<float> bce_backward(FloatArray x, FloatArray y, float scale, std::optional<FloatArray> grad,
                                std::optional<FloatArray> weight, std::optional<FloatArray> pos_weight) {
  const char* op = "binary_cross_entropy_with_logits_backward";
  check_same_shape(x, y, "target", op);
  const float* pg = optional_data(grad, x, "grad", op);
  const float* pw = optional_data(weight, x, "weight", op);
  const float* pp = optional_data(pos_weight, x, "pos_weight", op);
  auto gx = new_float_array(shape_of(x));
  float* po = gx.mutable_data();
  poison(po, static_cast<int64_t>(gx.size()));
  {
    py::gil_scoped_release release;
    bce_with_logits_backward(x.data(), y.data(), pw, pp, static_cast<int64_t>(x.size()), pg, scale, po);
  }
  return gx;
}

CNNNATIVE_BINDINGS(loss) {
  m.def("cross_entropy_rows", &forward, py::arg("input"), py::arg("target"), py::arg("weight") = py::none(),
        py::arg("ignore_index") = py::none(), py::arg("label_smoothing") = 0.0f,
        "Per-row cross-entropy losses (N,) of logits (N, classes) and labels (N,), times the label's class "
        "weight; 0 for rows labelled ignore_index.");
  m.def("cross_entropy_backward", &backward, py::arg("input"), py::arg("target"), py::arg("scale"),
        py::arg("row_scale") = py::none(), py::arg("weight") = py::none(), py::arg("ignore_index") = py::none(),
        py::arg("label_smoothing") = 0.0f);
  m.def("mse_loss", &mse_forward, py::arg("input"), py::arg("target"), py::arg("reduce"),
        "(input - target)^2 per element, or (reduce=True) their float64 sum.");
  m.def("mse_loss_backward", &mse_backward, py::arg("input"), py::arg("target"), py::arg("scale"),
        py::arg("grad") = py::none(), "2 (input - target) * scale (* grad elementwise when given).");
  m.def("binary_cross_entropy_with_logits", &bce_forward, py::arg("input"), py::arg("target"),
        py::arg("weight") = py::none(), py::arg("pos_weight") = py::none(), py::arg("reduce") = false,
        "Stable BCE of logits per element (weight / pos_weight already broadcast to the input's shape), "
        "or (reduce=True) the float64 sum.");
  m.def("binary_cross_entropy_with_logits_backward", &bce_backward, py::arg("input"), py::arg("target"),
        py::arg("scale"), py::arg("grad") = py::none(), py::arg("weight") = py::none(),
        py::arg("pos_weight") = py::none());
}

}  // namespace loss_binding
}  // namespace
