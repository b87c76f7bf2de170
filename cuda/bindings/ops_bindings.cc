// Pooling, normalisation, activation, softmax/loss, dropout and optimiser entry points
// of _cuda: checks, output allocation, GIL release, launch. Python-side argument
// normalisation (pairs, paddings, dims) lives in cnnnative/cuda/ops.py.
#include <cuda_runtime_api.h>

#include <array>
#include <cmath>

#include "check.h"
#include "common.h"
#include "kernels.h"

namespace cnnnative {
namespace cuda {

namespace {

using Pair = std::array<int64_t, 2>;
using Size4 = std::array<int64_t, 4>;

// Copies one value back (synchronises with the default stream).
template <typename T>
T read_scalar(const Tensor& t) {
  T v{};
  CNC_CUDA_CHECK(cudaMemcpy(&v, t.data, sizeof(T), cudaMemcpyDeviceToHost));
  return v;
}

// --- pooling ---------------------------------------------------------------------------------
PoolParams pool_params(const Size4& in, Pair k, Pair s, Pair pad, Pair d, bool ceil_mode, bool cip, const char* op) {
  PoolParams p;
  p.N = in[0]; p.C = in[1]; p.H = in[2]; p.W = in[3];
  p.kernel_h = k[0]; p.kernel_w = k[1];
  p.stride_h = s[0]; p.stride_w = s[1];
  p.pad_h = pad[0]; p.pad_w = pad[1];
  p.dilation_h = d[0]; p.dilation_w = d[1];
  p.ceil_mode = ceil_mode;
  p.count_include_pad = cip;
  validate_pool_params(p, op);
  return p;
}

Size4 shape4(const Tensor& t) { return {t.shape[0], t.shape[1], t.shape[2], t.shape[3]}; }

void require_pool_output(const Tensor& dy, const PoolParams& p, const char* op) {
  require(dy, 4, DType::float32, "grad_output");
  CN_CHECK(dy.shape[0] == p.N && dy.shape[1] == p.C && dy.shape[2] == p.OH && dy.shape[3] == p.OW, op,
           ": grad_output has shape ", dy.shape_string(), " but the pooling output is (", p.N, ", ", p.C, ", ", p.OH,
           ", ", p.OW, ")");
}

py::tuple max_pool2d(const Tensor& x, Pair k, Pair s, Pair pad, Pair d, bool ceil_mode, bool return_indices) {
  require(x, 4, DType::float32, "input");
  const PoolParams p = pool_params(shape4(x), k, s, pad, d, ceil_mode, true, "max_pool2d");
  DeviceGuard guard(x.device);
  Tensor y = empty_tensor({p.N, p.C, p.OH, p.OW}, DType::float32, x.device);
  Tensor idx;
  if (return_indices) idx = empty_tensor({p.N, p.C, p.OH, p.OW}, DType::int64, x.device);
  {
    py::gil_scoped_release release;
    cuda::max_pool2d_forward(p, x.ptr<float>(), y.ptr<float>(), return_indices ? idx.ptr<int64_t>() : nullptr);
  }
  return py::make_tuple(y, return_indices ? py::cast(idx) : py::none());
}

Tensor max_pool2d_backward_(const Tensor& dy, const Tensor& indices, Size4 input_size, const Tensor* out) {
  require(dy, 4, DType::float32, "grad_output");
  require(indices, 4, DType::int64, "indices");
  require_same_shape(dy, indices, "grad_output", "indices");
  require_same_device(dy, indices, "grad_output", "indices");
  CN_CHECK(input_size[0] == dy.shape[0] && input_size[1] == dy.shape[1] && input_size[2] >= 1 && input_size[3] >= 1,
           "max_pool2d_backward: input_size (", input_size[0], ", ", input_size[1], ", ", input_size[2], ", ",
           input_size[3], ") does not match grad_output ", dy.shape_string());
  PoolParams p;
  p.N = input_size[0]; p.C = input_size[1]; p.H = input_size[2]; p.W = input_size[3];
  p.OH = dy.shape[2]; p.OW = dy.shape[3];
  checked_numel({p.N, p.C, p.H, p.W}, "input_size");
  DeviceGuard guard(dy.device);
  Tensor dx;
  if (out) {  // zeroed and filled by the kernel; must not overlap grad_output or indices
    require(*out, 4, DType::float32, "out");
    CN_CHECK(out->shape == std::vector<int64_t>({p.N, p.C, p.H, p.W}), "max_pool2d_backward: out has shape ",
             out->shape_string(), " but input_size is (", p.N, ", ", p.C, ", ", p.H, ", ", p.W, ")");
    require_same_device(dy, *out, "grad_output", "out");
    CN_CHECK(!overlaps(*out, dy) && !overlaps(*out, indices),
             "max_pool2d_backward: out must not share memory with grad_output or indices");
    dx = *out;
  } else {
    dx = empty_tensor({p.N, p.C, p.H, p.W}, DType::float32, dy.device);
  }
  Tensor bad = empty_tensor({1}, DType::int32, dy.device);
  int bad_count = 0;
  {
    py::gil_scoped_release release;
    CNC_CUDA_CHECK(cudaMemsetAsync(bad.data, 0, sizeof(int)));
    cuda::max_pool2d_backward(p, dy.ptr<float>(), indices.ptr<int64_t>(), dx.ptr<float>(), bad.ptr<int>());
    bad_count = read_scalar<int>(bad);
  }
  CN_CHECK(bad_count == 0, "max_pool2d_backward: ", bad_count, " indices lie outside their ", p.H, " x ", p.W,
           " input plane");
  return dx;
}

Tensor avg_pool2d(const Tensor& x, Pair k, Pair s, Pair pad, bool ceil_mode, bool cip) {
  require(x, 4, DType::float32, "input");
  const PoolParams p = pool_params(shape4(x), k, s, pad, {1, 1}, ceil_mode, cip, "avg_pool2d");
  DeviceGuard guard(x.device);
  Tensor y = empty_tensor({p.N, p.C, p.OH, p.OW}, DType::float32, x.device);
  py::gil_scoped_release release;
  cuda::avg_pool2d_forward(p, x.ptr<float>(), y.ptr<float>());
  return y;
}

Tensor avg_pool2d_backward_(const Tensor& dy, Size4 input_size, Pair k, Pair s, Pair pad, bool ceil_mode, bool cip) {
  const PoolParams p = pool_params(input_size, k, s, pad, {1, 1}, ceil_mode, cip, "avg_pool2d_backward");
  require_pool_output(dy, p, "avg_pool2d_backward");
  DeviceGuard guard(dy.device);
  Tensor dx = empty_tensor({p.N, p.C, p.H, p.W}, DType::float32, dy.device);
  py::gil_scoped_release release;
  cuda::avg_pool2d_backward(p, dy.ptr<float>(), dx.ptr<float>());
  return dx;
}

Tensor global_avg(const Tensor& x) {
  require(x, 4, DType::float32, "input");
  CN_CHECK(x.shape[2] >= 1 && x.shape[3] >= 1, "global_avg_pool2d: input height and width must be >= 1, got shape ",
           x.shape_string());
  DeviceGuard guard(x.device);
  Tensor y = empty_tensor({x.shape[0], x.shape[1], 1, 1}, DType::float32, x.device);
  py::gil_scoped_release release;
  cuda::global_avg_pool2d_forward(x.ptr<float>(), y.ptr<float>(), x.shape[0] * x.shape[1], x.shape[2] * x.shape[3]);
  return y;
}

Tensor global_avg_backward(const Tensor& dy, Size4 s) {
  require(dy, 4, DType::float32, "grad_output");
  CN_CHECK(s[0] >= 0 && s[1] >= 0 && s[2] >= 1 && s[3] >= 1 && dy.shape[0] == s[0] && dy.shape[1] == s[1] &&
               dy.shape[2] == 1 && dy.shape[3] == 1,
           "global_avg_pool2d_backward: grad_output ", dy.shape_string(), " does not match input_size (", s[0], ", ",
           s[1], ", ", s[2], ", ", s[3], ")");
  checked_numel({s[0], s[1], s[2], s[3]}, "input_size");
  DeviceGuard guard(dy.device);
  Tensor dx = empty_tensor({s[0], s[1], s[2], s[3]}, DType::float32, dy.device);
  py::gil_scoped_release release;
  cuda::global_avg_pool2d_backward(dy.ptr<float>(), dx.ptr<float>(), s[0] * s[1], s[2] * s[3]);
  return dx;
}

// --- normalisation ---------------------------------------------------------------------------
const float* opt_vector(const Tensor* t, int64_t n, const char* name, const Tensor& x) {
  if (!t) return nullptr;
  require(*t, 1, DType::float32, name);
  CN_CHECK(t->shape[0] == n, name, " has ", t->shape[0], " elements, expected ", n);
  require_same_device(x, *t, "input", name);
  return t->ptr<float>();
}

// (N, C, HW) of an input of at least 2 dimensions.
std::array<int64_t, 3> nc_hw(const Tensor& x, const char* op) {
  require(x, -1, DType::float32, "input");
  CN_CHECK(x.ndim() >= 2, op, ": input must have at least 2 dimensions (N, C, ...), got shape ", x.shape_string());
  int64_t hw = 1;
  for (int64_t i = 2; i < x.ndim(); ++i) hw *= x.shape[i];
  return {x.shape[0], x.shape[1], hw};
}

py::tuple batch_norm_forward(const Tensor& x, Tensor* running_mean, Tensor* running_var, const Tensor* weight,
                             const Tensor* bias, bool training, float momentum, float eps) {
  const auto [N, C, HW] = nc_hw(x, "batch_norm");
  float* rm = const_cast<float*>(opt_vector(running_mean, C, "running_mean", x));
  float* rv = const_cast<float*>(opt_vector(running_var, C, "running_var", x));
  const float* w = opt_vector(weight, C, "weight", x);
  const float* b = opt_vector(bias, C, "bias", x);
  CN_CHECK(training || (rm && rv), "batch_norm: evaluation needs running_mean and running_var");
  CN_CHECK(!training || N * HW > 0, "batch_norm: training needs more than 0 values per channel, got input shape ",
           x.shape_string());
  CN_CHECK(eps >= 0.0f, "batch_norm: eps must be >= 0");
  DeviceGuard guard(x.device);
  Tensor y = new_like(x);
  Tensor mean = empty_tensor({C}, DType::float32, x.device);
  Tensor invstd = empty_tensor({C}, DType::float32, x.device);
  {
    py::gil_scoped_release release;
    if (training)
      batch_norm_forward_train(x.ptr<float>(), w, b, y.ptr<float>(), mean.ptr<float>(), invstd.ptr<float>(), rm, rv,
                               N, C, HW, momentum, eps);
    else
      batch_norm_forward_eval(x.ptr<float>(), w, b, y.ptr<float>(), mean.ptr<float>(), invstd.ptr<float>(), rm, rv, N,
                              C, HW, eps);
  }
  return py::make_tuple(y, mean, invstd);
}

py::tuple batch_norm_backward_(const Tensor& dy, const Tensor& x, const Tensor* weight, const Tensor& mean,
                               const Tensor& invstd, bool training) {
  const auto [N, C, HW] = nc_hw(x, "batch_norm_backward");
  require_same_shape(dy, x, "grad_output", "input");
  require(dy, -1, DType::float32, "grad_output");
  require_same_device(x, dy, "input", "grad_output");
  const float* w = opt_vector(weight, C, "weight", x);
  const float* m = opt_vector(&mean, C, "mean", x);
  const float* is = opt_vector(&invstd, C, "invstd", x);
  DeviceGuard guard(x.device);
  Tensor dx = new_like(x);
  Tensor dw = empty_tensor({C}, DType::float32, x.device);
  Tensor db = empty_tensor({C}, DType::float32, x.device);
  Tensor scratch = empty_tensor({2 * C}, DType::float32, x.device);
  {
    py::gil_scoped_release release;
    batch_norm_backward(dy.ptr<float>(), x.ptr<float>(), w, m, is, dx.ptr<float>(), dw.ptr<float>(), db.ptr<float>(),
                        N, C, HW, training, scratch.ptr<float>());
  }
  return py::make_tuple(dx, dw, db);
}

// Group norm over (N, C, ...): rows = N * G, row length = C/G * HW.
py::tuple group_norm_forward(const Tensor& x, int64_t G, const Tensor* weight, const Tensor* bias, float eps) {
  const auto [N, C, HW] = nc_hw(x, "group_norm");
  CN_CHECK(G >= 1 && C % G == 0, "group_norm: num_groups ", G, " must divide the ", C, " channels");
  const float* w = opt_vector(weight, C, "weight", x);
  const float* b = opt_vector(bias, C, "bias", x);
  CN_CHECK(HW * (C / G) > 0, "group_norm: empty groups in input shape ", x.shape_string());
  DeviceGuard guard(x.device);
  Tensor y = new_like(x);
  Tensor mean = empty_tensor({N, G}, DType::float32, x.device);
  Tensor rstd = empty_tensor({N, G}, DType::float32, x.device);
  {
    py::gil_scoped_release release;
    row_norm_forward(x.ptr<float>(), w, b, y.ptr<float>(), mean.ptr<float>(), rstd.ptr<float>(), N * G, C / G * HW, G,
                     HW, eps);
  }
  return py::make_tuple(y, mean, rstd);
}

py::tuple group_norm_backward(const Tensor& dy, const Tensor& x, int64_t G, const Tensor& mean, const Tensor& rstd,
                              const Tensor* weight) {
  const auto [N, C, HW] = nc_hw(x, "group_norm_backward");
  require(dy, -1, DType::float32, "grad_output");
  require_same_shape(dy, x, "grad_output", "input");
  CN_CHECK(G >= 1 && C % G == 0, "group_norm_backward: num_groups ", G, " must divide the ", C, " channels");
  require(mean, -1, DType::float32, "mean");
  require(rstd, -1, DType::float32, "rstd");
  CN_CHECK(mean.numel() == N * G && rstd.numel() == N * G, "group_norm_backward: mean and rstd must have N*G = ",
           N * G, " elements, got ", mean.shape_string(), " and ", rstd.shape_string());
  require_same_device(x, dy, "input", "grad_output");
  require_same_device(x, mean, "input", "mean");
  require_same_device(x, rstd, "input", "rstd");
  const float* w = opt_vector(weight, C, "weight", x);
  DeviceGuard guard(x.device);
  Tensor dx = new_like(x);
  Tensor dw = empty_tensor({C}, DType::float32, x.device);
  Tensor db = empty_tensor({C}, DType::float32, x.device);
  {
    py::gil_scoped_release release;
    row_norm_backward_input(dy.ptr<float>(), x.ptr<float>(), w, mean.ptr<float>(), rstd.ptr<float>(), dx.ptr<float>(),
                            N * G, C / G * HW, G, HW);
    group_norm_backward_affine(dy.ptr<float>(), x.ptr<float>(), mean.ptr<float>(), rstd.ptr<float>(), dw.ptr<float>(),
                               db.ptr<float>(), N, C, HW, G);
  }
  return py::make_tuple(dx, dw, db);
}

// Layer norm over the trailing `norm_numel` elements.
py::tuple layer_norm_forward(const Tensor& x, int64_t norm_numel, const Tensor* weight, const Tensor* bias, float eps) {
  require(x, -1, DType::float32, "input");
  CN_CHECK(norm_numel >= 1 && x.numel() % norm_numel == 0, "layer_norm: normalized size ", norm_numel,
           " does not divide input shape ", x.shape_string());
  const int64_t rows = x.numel() / norm_numel;
  const float* w = opt_vector(weight, norm_numel, "weight", x);
  const float* b = opt_vector(bias, norm_numel, "bias", x);
  DeviceGuard guard(x.device);
  Tensor y = new_like(x);
  Tensor mean = empty_tensor({rows}, DType::float32, x.device);
  Tensor rstd = empty_tensor({rows}, DType::float32, x.device);
  {
    py::gil_scoped_release release;
    row_norm_forward(x.ptr<float>(), w, b, y.ptr<float>(), mean.ptr<float>(), rstd.ptr<float>(), rows, norm_numel, 1, 1,
                     eps);
  }
  return py::make_tuple(y, mean, rstd);
}

py::tuple layer_norm_backward(const Tensor& dy, const Tensor& x, int64_t norm_numel, const Tensor& mean,
                              const Tensor& rstd, const Tensor* weight) {
  require(x, -1, DType::float32, "input");
  require(dy, -1, DType::float32, "grad_output");
  require_same_shape(dy, x, "grad_output", "input");
  CN_CHECK(norm_numel >= 1 && x.numel() % norm_numel == 0, "layer_norm_backward: normalized size ", norm_numel,
           " does not divide input shape ", x.shape_string());
  const int64_t rows = x.numel() / norm_numel;
  CN_CHECK(mean.numel() == rows && rstd.numel() == rows, "layer_norm_backward: mean and rstd must have ", rows,
           " elements");
  require(mean, -1, DType::float32, "mean");
  require(rstd, -1, DType::float32, "rstd");
  require_same_device(x, dy, "input", "grad_output");
  require_same_device(x, mean, "input", "mean");
  require_same_device(x, rstd, "input", "rstd");
  const float* w = opt_vector(weight, norm_numel, "weight", x);
  DeviceGuard guard(x.device);
  Tensor dx = new_like(x);
  Tensor dw = empty_tensor({norm_numel}, DType::float32, x.device);
  Tensor db = empty_tensor({norm_numel}, DType::float32, x.device);
  {
    py::gil_scoped_release release;
    row_norm_backward_input(dy.ptr<float>(), x.ptr<float>(), w, mean.ptr<float>(), rstd.ptr<float>(), dx.ptr<float>(),
                            rows, norm_numel, 1, 1);
    layer_norm_backward_affine(dy.ptr<float>(), x.ptr<float>(), mean.ptr<float>(), rstd.ptr<float>(), dw.ptr<float>(),
                               db.ptr<float>(), rows, norm_numel);
  }
  return py::make_tuple(dx, dw, db);
}

void check_lrn(int64_t size, float k) { CN_CHECK(size >= 1, "local_response_norm: size must be >= 1, got ", size); }

Tensor lrn(const Tensor& x, int64_t size, float alpha, float beta, float k) {
  const auto [N, C, HW] = nc_hw(x, "local_response_norm");
  check_lrn(size, k);
  DeviceGuard guard(x.device);
  Tensor y = new_like(x);
  Tensor scale = new_like(x);
  py::gil_scoped_release release;
  lrn_forward(x.ptr<float>(), y.ptr<float>(), scale.ptr<float>(), N, C, HW, size, alpha, beta, k);
  return y;
}

Tensor lrn_backward_(const Tensor& dy, const Tensor& x, int64_t size, float alpha, float beta, float k) {
  const auto [N, C, HW] = nc_hw(x, "local_response_norm_backward");
  require(dy, -1, DType::float32, "grad_output");
  require_same_shape(dy, x, "grad_output", "input");
  require_same_device(x, dy, "input", "grad_output");
  check_lrn(size, k);
  DeviceGuard guard(x.device);
  Tensor y = new_like(x), scale = new_like(x), dx = new_like(x);
  py::gil_scoped_release release;
  lrn_forward(x.ptr<float>(), y.ptr<float>(), scale.ptr<float>(), N, C, HW, size, alpha, beta, k);
  lrn_backward(dy.ptr<float>(), x.ptr<float>(), y.ptr<float>(), scale.ptr<float>(), dx.ptr<float>(), N, C, HW, size,
               alpha, beta);
  return dx;
}

// --- activations and elementwise ---------------------------------------------------------------
Activation activation_from(const std::string& name) {
  if (name == "relu") return Activation::relu;
  if (name == "relu6") return Activation::relu6;
  if (name == "leaky_relu") return Activation::leaky_relu;
  if (name == "sigmoid") return Activation::sigmoid;
  if (name == "tanh") return Activation::tanh;
  throw std::invalid_argument("unknown activation '" + name + "'");
}

// The result tensor: `out` when given (same shape, dtype and device as `like`; it may be
// one of the inputs, for in-place use: the elementwise kernels read each element before
// writing it), else a new one.
Tensor output_or_new(const Tensor* out, const Tensor& like, const char* like_name) {
  if (!out) return new_like(like);
  require(*out, -1, like.dtype, "out");
  require_same_shape(*out, like, "out", like_name);
  require_same_device(*out, like, "out", like_name);
  return *out;
}

Tensor activation(const std::string& name, const Tensor& x, float slope, const Tensor* out) {
  require(x, -1, DType::float32, "input");
  const Activation a = activation_from(name);
  DeviceGuard guard(x.device);
  Tensor y = output_or_new(out, x, "input");
  py::gil_scoped_release release;
  activation_forward(a, x.ptr<float>(), y.ptr<float>(), x.numel(), slope);
  return y;
}

Tensor activation_grad(const std::string& name, const Tensor& dy, const Tensor& saved, float slope,
                       const Tensor* out) {
  require(dy, -1, DType::float32, "grad_output");
  require(saved, -1, DType::float32, name == "leaky_relu" ? "input" : "output");
  require_same_shape(dy, saved, "grad_output", name == "leaky_relu" ? "input" : "output");
  require_same_device(dy, saved, "grad_output", "saved tensor");
  const Activation a = activation_from(name);
  DeviceGuard guard(dy.device);
  Tensor dx = output_or_new(out, dy, "grad_output");
  py::gil_scoped_release release;
  activation_backward(a, dy.ptr<float>(), saved.ptr<float>(), dx.ptr<float>(), dy.numel(), slope);
  return dx;
}

Tensor add_(const Tensor& a, const Tensor& b, bool relu) {
  require(a, -1, DType::float32, "a");
  require(b, -1, DType::float32, "b");
  require_same_shape(a, b, "a", "b");
  require_same_device(a, b, "a", "b");
  DeviceGuard guard(a.device);
  Tensor y = new_like(a);
  py::gil_scoped_release release;
  add(a.ptr<float>(), b.ptr<float>(), y.ptr<float>(), a.numel(), relu);
  return y;
}

std::array<int64_t, 3> softmax_view(const Tensor& x, int64_t dim) {
  require(x, -1, DType::float32, "input");
  const int64_t nd = x.ndim();
  CN_CHECK(nd >= 1, "softmax: input must have at least 1 dimension");
  CN_CHECK(dim >= -nd && dim < nd, "softmax: dim ", dim, " out of range for shape ", x.shape_string());
  if (dim < 0) dim += nd;
  int64_t outer = 1, inner = 1;
  for (int64_t i = 0; i < dim; ++i) outer *= x.shape[i];
  for (int64_t i = dim + 1; i < nd; ++i) inner *= x.shape[i];
  return {outer, x.shape[dim], inner};
}

Tensor softmax_(const Tensor& x, int64_t dim, bool log) {
  const auto [outer, d, inner] = softmax_view(x, dim);
  DeviceGuard guard(x.device);
  Tensor y = new_like(x);
  py::gil_scoped_release release;
  softmax_forward(x.ptr<float>(), y.ptr<float>(), outer, d, inner, log);
  return y;
}

Tensor softmax_grad(const Tensor& dy, const Tensor& y, int64_t dim, bool log) {
  const auto [outer, d, inner] = softmax_view(y, dim);
  require(dy, -1, DType::float32, "grad_output");
  require_same_shape(dy, y, "grad_output", "output");
  require_same_device(y, dy, "output", "grad_output");
  DeviceGuard guard(y.device);
  Tensor dx = new_like(y);
  py::gil_scoped_release release;
  softmax_backward(dy.ptr<float>(), y.ptr<float>(), dx.ptr<float>(), outer, d, inner, log);
  return dx;
}

// Returns (per-sample losses (N,), gradient or None). grad_scale multiplies the gradient.
py::tuple cross_entropy_(const Tensor& logits, const Tensor& target, bool want_grad, float grad_scale,
                         const Tensor* row_scale) {
  require(logits, 2, DType::float32, "input");
  require(target, 1, DType::int64, "target");
  CN_CHECK(target.shape[0] == logits.shape[0], "cross_entropy: target has ", target.shape[0], " labels for ",
           logits.shape[0], " rows of input");
  CN_CHECK(logits.shape[1] >= 1, "cross_entropy: input needs at least one class");
  require_same_device(logits, target, "input", "target");
  if (row_scale) {
    require(*row_scale, 1, DType::float32, "grad");
    CN_CHECK(row_scale->shape[0] == logits.shape[0], "cross_entropy_backward: grad has ", row_scale->shape[0],
             " rows, expected ", logits.shape[0]);
    require_same_device(logits, *row_scale, "input", "grad");
  }
  DeviceGuard guard(logits.device);
  const int64_t N = logits.shape[0], C = logits.shape[1];
  Tensor loss = empty_tensor({N}, DType::float32, logits.device);
  Tensor grad;
  if (want_grad) grad = new_like(logits);
  Tensor bad = empty_tensor({1}, DType::int32, logits.device);
  int bad_count = 0;
  {
    py::gil_scoped_release release;
    CNC_CUDA_CHECK(cudaMemsetAsync(bad.data, 0, sizeof(int)));
    cross_entropy(logits.ptr<float>(), target.ptr<int64_t>(), loss.ptr<float>(),
                  want_grad ? grad.ptr<float>() : nullptr, N, C, grad_scale,
                  row_scale ? row_scale->ptr<float>() : nullptr, bad.ptr<int>());
    bad_count = read_scalar<int>(bad);
  }
  CN_CHECK(bad_count == 0, "cross_entropy: ", bad_count, " target labels are outside [0, ", C, ")");
  return py::make_tuple(loss, want_grad ? py::cast(grad) : py::none());
}

uint32_t hash32(uint32_t x) {  // the CPU dropout's hash (cpp/src/dropout/dropout.h)
  x ^= x >> 16;
  x *= 0x7feb352dU;
  x ^= x >> 15;
  x *= 0x846ca68bU;
  x ^= x >> 16;
  return x;
}

py::tuple dropout_(const Tensor& x, double p, uint64_t seed) {
  require(x, -1, DType::float32, "input");
  CN_CHECK(p >= 0.0 && p < 1.0, "dropout: p must be in [0, 1), got ", p);
  const uint32_t k0 = hash32(static_cast<uint32_t>(seed) ^ 0x243f6a88U);
  const uint32_t k1 = hash32(static_cast<uint32_t>(seed >> 32) ^ k0 ^ 0x85a308d3U);
  const uint32_t threshold = static_cast<uint32_t>(std::llround(p * 16777216.0));
  const float scale = 1.0f / static_cast<float>(1.0 - p);
  DeviceGuard guard(x.device);
  Tensor y = new_like(x);
  Tensor mask = empty_tensor(x.shape, DType::uint8, x.device);
  {
    py::gil_scoped_release release;
    dropout_forward(x.ptr<float>(), y.ptr<float>(), mask.ptr<uint8_t>(), x.numel(), k0, k1, threshold, scale);
  }
  return py::make_tuple(y, mask);
}

Tensor dropout_grad(const Tensor& dy, const Tensor& mask, double p) {
  require(dy, -1, DType::float32, "grad_output");
  require(mask, -1, DType::uint8, "mask");
  require_same_shape(dy, mask, "grad_output", "mask");
  require_same_device(dy, mask, "grad_output", "mask");
  CN_CHECK(p >= 0.0 && p < 1.0, "dropout_backward: p must be in [0, 1), got ", p);
  DeviceGuard guard(dy.device);
  Tensor dx = new_like(dy);
  py::gil_scoped_release release;
  dropout_backward(dy.ptr<float>(), mask.ptr<uint8_t>(), dx.ptr<float>(), dy.numel(),
                   1.0f / static_cast<float>(1.0 - p));
  return dx;
}

void sgd_step_(Tensor& param, const Tensor& grad, Tensor* buffer, float lr, float momentum, float dampening,
               float weight_decay, bool nesterov, bool first_step) {
  require(param, -1, DType::float32, "param");
  require(grad, -1, DType::float32, "grad");
  require_same_shape(param, grad, "param", "grad");
  require_same_device(param, grad, "param", "grad");
  CN_CHECK(momentum == 0.0f || buffer, "sgd_step: momentum != 0 needs a momentum_buffer");
  if (buffer) {
    require(*buffer, -1, DType::float32, "momentum_buffer");
    require_same_shape(param, *buffer, "param", "momentum_buffer");
    require_same_device(param, *buffer, "param", "momentum_buffer");
  }
  CN_CHECK(lr >= 0.0f && momentum >= 0.0f && weight_decay >= 0.0f, "sgd_step: lr (", lr, "), momentum (", momentum,
           ") and weight_decay (", weight_decay, ") must be >= 0");
  CN_CHECK(!nesterov || (momentum > 0.0f && dampening == 0.0f), "sgd_step: nesterov needs momentum > 0 and dampening 0");
  DeviceGuard guard(param.device);
  float* buf = buffer ? buffer->ptr<float>() : nullptr;
  py::gil_scoped_release release;
  sgd_step(param.ptr<float>(), grad.ptr<float>(), buf, param.numel(), lr, momentum, dampening, weight_decay, nesterov,
           first_step);
}

}  // namespace

void bind_misc_ops(py::module_& m) {
  m.def("max_pool2d", &max_pool2d);
  m.def("max_pool2d_backward", &max_pool2d_backward_, py::arg("grad_output"), py::arg("indices"),
        py::arg("input_size"), py::arg("out").none(true) = py::none());
  m.def("avg_pool2d", &avg_pool2d);
  m.def("avg_pool2d_backward", &avg_pool2d_backward_);
  m.def("global_avg_pool2d", &global_avg);
  m.def("global_avg_pool2d_backward", &global_avg_backward);
  m.def("batch_norm_forward", &batch_norm_forward, py::arg("input"), py::arg("running_mean").none(true),
        py::arg("running_var").none(true), py::arg("weight").none(true), py::arg("bias").none(true),
        py::arg("training"), py::arg("momentum"), py::arg("eps"));
  m.def("batch_norm_backward", &batch_norm_backward_, py::arg("grad_output"), py::arg("input"),
        py::arg("weight").none(true), py::arg("mean"), py::arg("invstd"), py::arg("training"));
  m.def("group_norm_forward", &group_norm_forward, py::arg("input"), py::arg("num_groups"),
        py::arg("weight").none(true), py::arg("bias").none(true), py::arg("eps"));
  m.def("group_norm_backward", &group_norm_backward, py::arg("grad_output"), py::arg("input"), py::arg("num_groups"),
        py::arg("mean"), py::arg("rstd"), py::arg("weight").none(true));
  m.def("layer_norm_forward", &layer_norm_forward, py::arg("input"), py::arg("norm_numel"),
        py::arg("weight").none(true), py::arg("bias").none(true), py::arg("eps"));
  m.def("layer_norm_backward", &layer_norm_backward, py::arg("grad_output"), py::arg("input"), py::arg("norm_numel"),
        py::arg("mean"), py::arg("rstd"), py::arg("weight").none(true));
  m.def("local_response_norm", &lrn);
  m.def("local_response_norm_backward", &lrn_backward_);
  m.def("activation", &activation, py::arg("name"), py::arg("input"), py::arg("slope"),
        py::arg("out").none(true) = py::none());
  m.def("activation_backward", &activation_grad, py::arg("name"), py::arg("grad_output"), py::arg("saved"),
        py::arg("slope"), py::arg("out").none(true) = py::none());
  m.def("add", &add_);
  m.def("softmax", &softmax_);
  m.def("softmax_backward", &softmax_grad);
  m.def("cross_entropy", &cross_entropy_, py::arg("input"), py::arg("target"), py::arg("want_grad"),
        py::arg("grad_scale"), py::arg("row_scale").none(true));
  m.def("dropout", &dropout_);
  m.def("dropout_backward", &dropout_grad);
  m.def("sgd_step", &sgd_step_, py::arg("param"), py::arg("grad"), py::arg("momentum_buffer").none(true),
        py::arg("lr"), py::arg("momentum"), py::arg("dampening"), py::arg("weight_decay"), py::arg("nesterov"),
        py::arg("first_step"));
  m.def("scale_", [](Tensor& x, float alpha) {
    require(x, -1, DType::float32, "input");
    DeviceGuard guard(x.device);
    py::gil_scoped_release release;
    scale_inplace(x.ptr<float>(), x.numel(), alpha);
  });
  m.def("fill_", [](Tensor& x, float value) {
    require(x, -1, DType::float32, "input");
    DeviceGuard guard(x.device);
    py::gil_scoped_release release;
    fill(x.ptr<float>(), x.numel(), value);
  });
  m.def("sum_of_squares", [](const Tensor& x) {
    require(x, -1, DType::float32, "input");
    DeviceGuard guard(x.device);
    Tensor acc = empty_tensor({1}, DType::int64, x.device);  // 8 bytes for one double
    py::gil_scoped_release release;
    CNC_CUDA_CHECK(cudaMemsetAsync(acc.data, 0, sizeof(double)));
    sum_of_squares(x.ptr<float>(), x.numel(), static_cast<double*>(acc.data));
    return read_scalar<double>(acc);
  });
}

}  // namespace cuda
}  // namespace cnnnative
