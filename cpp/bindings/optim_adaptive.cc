// In-place steps of the adaptive optimizers (Adam / AdamW, RMSprop, Adagrad), one fused pass
// per parameter tensor (see optim/adaptive.h for the update rules).
//
// Hyper-parameters arrive as Python floats (double) and the step number as an int: the
// per-step scalars are derived in double and rounded to float as PyTorch does. Arrays
// updated in place follow inplace_array.h; the gradient is read only (any array-like of
// the parameter's shape, converted to float32).
#include <cmath>
#include <string>

#include "arrays.h"
#include "inplace_array.h"
#include "optim/adaptive.h"
#include "registry.h"

using namespace cnnnative;

namespace {
namespace optim_adaptive_binding {  // a name per file: the bindings compile as unity sources

void require_at_least(const char* op, const char* name, double value, double low) {
  CN_CHECK(value >= low, op, ": invalid ", name, " ", value, " (must be >= ", low, ")");
}

void require_beta(const char* op, const char* name, double value) {
  CN_CHECK(value >= 0.0 && value < 1.0, op, ": invalid ", name, " ", value, " (must be in [0, 1))");
}

// An optional state buffer: present exactly when the option that needs it is on.
py::array_t<float> optional_state(const char* op, const py::object& obj, const char* name, bool needed,
                                  const char* option, const py::array_t<float>& param) {
  if (!needed) return py::array_t<float>();
  CN_CHECK(!obj.is_none(), op, ": ", option, " needs ", name, " (shape ", shape_string(param), ")");
  auto a = require_inplace(obj, op, name);
  require_same_shape(op, param, "param", a, name);
  return a;
}

float* data_or_null(py::array_t<float>& a, bool present) { return present ? a.mutable_data() : nullptr; }

void adam_step(py::object param_obj, FloatArray grad, py::object exp_avg_obj, py::object exp_avg_sq_obj,
               py::object max_exp_avg_sq_obj, int64_t step, double lr, double beta1, double beta2, double eps,
               double weight_decay, bool amsgrad, bool decoupled_weight_decay, bool maximize) {
  const char* op = "adam_step";
  auto param = require_inplace(param_obj, op, "param");
  require_same_shape(op, param, "param", grad, "grad");
  auto exp_avg = require_inplace(exp_avg_obj, op, "exp_avg");
  require_same_shape(op, param, "param", exp_avg, "exp_avg");
  auto exp_avg_sq = require_inplace(exp_avg_sq_obj, op, "exp_avg_sq");
  require_same_shape(op, param, "param", exp_avg_sq, "exp_avg_sq");
  auto max_sq = optional_state(op, max_exp_avg_sq_obj, "max_exp_avg_sq", amsgrad, "amsgrad=True", param);
  if (amsgrad)
    require_distinct(op, {{"param", &param}, {"exp_avg", &exp_avg}, {"exp_avg_sq", &exp_avg_sq},
                          {"max_exp_avg_sq", &max_sq}});
  else
    require_distinct(op, {{"param", &param}, {"exp_avg", &exp_avg}, {"exp_avg_sq", &exp_avg_sq}});
  CN_CHECK(step >= 1, op, ": invalid step ", step, " (the step being taken, counted from 1)");
  require_at_least(op, "learning rate lr", lr, 0.0);
  require_beta(op, "beta1", beta1);
  require_beta(op, "beta2", beta2);
  require_at_least(op, "eps", eps, 0.0);
  require_at_least(op, "weight_decay", weight_decay, 0.0);
  const AdamConfig cfg =
      adam_config(lr, beta1, beta2, eps, weight_decay, amsgrad, decoupled_weight_decay, maximize, step);
  float* pp = param.mutable_data();
  float* pm = exp_avg.mutable_data();
  float* pv = exp_avg_sq.mutable_data();
  float* pmax = data_or_null(max_sq, amsgrad);
  const float* pg = grad.data();
  const int64_t n = param.size();
  py::gil_scoped_release release;
  adam_update(pp, pg, pm, pv, pmax, n, cfg);
}

void rmsprop_step(py::object param_obj, FloatArray grad, py::object square_avg_obj, py::object grad_avg_obj,
                  py::object momentum_buffer_obj, double lr, double alpha, double eps, double weight_decay,
                  double momentum, bool centered, bool maximize) {
  const char* op = "rmsprop_step";
  auto param = require_inplace(param_obj, op, "param");
  require_same_shape(op, param, "param", grad, "grad");
  auto square_avg = require_inplace(square_avg_obj, op, "square_avg");
  require_same_shape(op, param, "param", square_avg, "square_avg");
  require_at_least(op, "learning rate lr", lr, 0.0);
  require_at_least(op, "alpha", alpha, 0.0);
  require_at_least(op, "eps", eps, 0.0);
  require_at_least(op, "weight_decay", weight_decay, 0.0);
  require_at_least(op, "momentum", momentum, 0.0);
  const bool has_momentum = momentum > 0.0;
  auto grad_avg = optional_state(op, grad_avg_obj, "grad_avg", centered, "centered=True", param);
  auto buf = optional_state(op, momentum_buffer_obj, "momentum_buffer", has_momentum, "momentum > 0", param);
  if (centered && has_momentum)
    require_distinct(op, {{"param", &param}, {"square_avg", &square_avg}, {"grad_avg", &grad_avg},
                          {"momentum_buffer", &buf}});
  else if (centered)
    require_distinct(op, {{"param", &param}, {"square_avg", &square_avg}, {"grad_avg", &grad_avg}});
  else if (has_momentum)
    require_distinct(op, {{"param", &param}, {"square_avg", &square_avg}, {"momentum_buffer", &buf}});
  else
    require_distinct(op, {{"param", &param}, {"square_avg", &square_avg}});
  const RmspropConfig cfg = rmsprop_config(lr, alpha, eps, weight_decay, momentum, centered, maximize);
  float* pp = param.mutable_data();
  float* ps = square_avg.mutable_data();
  float* pa = data_or_null(grad_avg, centered);
  float* pb = data_or_null(buf, has_momentum);
  const float* pg = grad.data();
  const int64_t n = param.size();
  py::gil_scoped_release release;
  rmsprop_update(pp, pg, ps, pa, pb, n, cfg);
}

void adagrad_step(py::object param_obj, FloatArray grad, py::object state_sum_obj, int64_t step, double lr,
                  double lr_decay, double eps, double weight_decay, bool maximize) {
  const char* op = "adagrad_step";
  auto param = require_inplace(param_obj, op, "param");
  require_same_shape(op, param, "param", grad, "grad");
  auto state_sum = require_inplace(state_sum_obj, op, "state_sum");
  require_same_shape(op, param, "param", state_sum, "state_sum");
  require_distinct(op, {{"param", &param}, {"state_sum", &state_sum}});
  CN_CHECK(step >= 1, op, ": invalid step ", step, " (the step being taken, counted from 1)");
  require_at_least(op, "learning rate lr", lr, 0.0);
  require_at_least(op, "lr_decay", lr_decay, 0.0);
  require_at_least(op, "eps", eps, 0.0);
  require_at_least(op, "weight_decay", weight_decay, 0.0);
  const AdagradConfig cfg = adagrad_config(lr, lr_decay, eps, weight_decay, maximize, step);
  float* pp = param.mutable_data();
  float* ps = state_sum.mutable_data();
  const float* pg = grad.data();
  const int64_t n = param.size();
  py::gil_scoped_release release;
  adagrad_update(pp, pg, ps, n, cfg);
}

CNNNATIVE_BINDINGS(optim_adaptive) {
  m.def("adam_step", &adam_step, py::arg("param"), py::arg("grad"), py::arg("exp_avg"), py::arg("exp_avg_sq"),
        py::arg("max_exp_avg_sq"), py::arg("step"), py::arg("lr"), py::arg("beta1"), py::arg("beta2"),
        py::arg("eps"), py::arg("weight_decay"), py::arg("amsgrad"), py::arg("decoupled_weight_decay"),
        py::arg("maximize"));
  m.def("rmsprop_step", &rmsprop_step, py::arg("param"), py::arg("grad"), py::arg("square_avg"),
        py::arg("grad_avg"), py::arg("momentum_buffer"), py::arg("lr"), py::arg("alpha"), py::arg("eps"),
        py::arg("weight_decay"), py::arg("momentum"), py::arg("centered"), py::arg("maximize"));
  m.def("adagrad_step", &adagrad_step, py::arg("param"), py::arg("grad"), py::arg("state_sum"), py::arg("step"),
        py::arg("lr"), py::arg("lr_decay"), py::arg("eps"), py::arg("weight_decay"), py::arg("maximize"));
}

}  // namespace optim_adaptive_binding
}  // namespace
