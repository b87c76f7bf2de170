// Building a Plan: nodes in order, shapes inferred and checked as each is added, then
// finalize() computes buffer lifetimes and places them in one arena.
#include <algorithm>
#include <cmath>

#include "cnnnative/engine.h"
#include "cnnnative/errors.h"
#include "cnnnative/threads.h"
#include "engine/arena_planner.h"
#include "engine/int8_nodes.h"
#include "engine/kernels.h"

namespace cnnnative {
namespace engine {

const char* op_name(OpKind k) {
  switch (k) {
    case OpKind::conv: return "conv";
    case OpKind::max_pool: return "max_pool";
    case OpKind::avg_pool: return "avg_pool";
    case OpKind::global_avg_pool: return "global_avg_pool";
    case OpKind::linear: return "linear";
    case OpKind::add: return "add";
    case OpKind::concat: return "concat";
    case OpKind::flatten: return "flatten";
    case OpKind::softmax: return "softmax";
    case OpKind::channel_affine: return "channel_affine";
    case OpKind::activation: return "activation";
    case OpKind::channel_scale: return "channel_scale";
    case OpKind::conv_transpose: return "conv_transpose";
    case OpKind::interpolate: return "interpolate";
    case OpKind::pixel_shuffle: return "pixel_shuffle";
    case OpKind::pixel_unshuffle: return "pixel_unshuffle";
    case OpKind::channel_shuffle: return "channel_shuffle";
    case OpKind::channel_slice: return "channel_slice";
    case OpKind::quantize: return "quantize";
    case OpKind::dequantize: return "dequantize";
    case OpKind::conv_int8: return "conv_int8";
    case OpKind::linear_int8: return "linear_int8";
    case OpKind::max_pool_u8: return "max_pool_u8";
    case OpKind::avg_pool_u8: return "avg_pool_u8";
    case OpKind::global_avg_pool_u8: return "global_avg_pool_u8";
    case OpKind::concat_u8: return "concat_u8";
  }
  return "?";
}

const char* conv_method_name(ConvMethod m) {
  switch (m) {
    case ConvMethod::gemm_1x1: return "gemm_1x1";
    case ConvMethod::im2col_gemm: return "im2col_gemm";
    case ConvMethod::depthwise: return "depthwise";
    case ConvMethod::winograd: return "winograd";
    case ConvMethod::direct_smallc: return "direct_smallc";
    case ConvMethod::direct_smallc_wino: return "direct_smallc_wino";
    case ConvMethod::gemm_prepacked: return "gemm_prepacked";
    case ConvMethod::winograd1d: return "winograd1d";
  }
  return "?";
}

int64_t BufferInfo::per_sample() const {
  int64_t n = 1;
  for (size_t i = 1; i < shape.size(); ++i) n = checked_mul(n, shape[i], "buffer size");
  return n;
}
int64_t BufferInfo::bytes() const {
  return checked_mul(checked_mul(per_sample(), shape[0], "buffer size"), elem_bytes, "buffer size");
}

static std::string shape_str(const std::vector<int64_t>& s) {
  std::string r = "(";
  for (size_t i = 0; i < s.size(); ++i) r += (i ? ", " : "") + std::to_string(s[i]);
  return r + ")";
}

Plan::Plan(std::vector<int64_t> input_shape, ConvChoice choice) : choice_(choice) {
  CN_CHECK(input_shape.size() == 4 || input_shape.size() == 2,
           "input_shape must be (N, C, H, W) or (N, F), got ", shape_str(input_shape));
  for (int64_t d : input_shape)
    CN_CHECK(d >= 0, "input_shape must not have negative sizes, got ", shape_str(input_shape));
  for (size_t i = 1; i < input_shape.size(); ++i)
    CN_CHECK(input_shape[i] > 0, "input_shape sizes after the batch must be positive, got ",
             shape_str(input_shape));
  new_buffer(std::move(input_shape));
  (void)buffers_[0].bytes();  // overflow check
}

Plan::~Plan() = default;

void Plan::ArenaFree::operator()(float* p) const { std::free(p); }

int Plan::new_buffer(std::vector<int64_t> shape) {
  BufferInfo b;
  b.shape = std::move(shape);
  buffers_.push_back(std::move(b));
  (void)buffers_.back().bytes();  // throws OverflowError for absurd sizes
  return int(buffers_.size()) - 1;
}

void Plan::check_buffer(int id, const char* what) const {
  CN_CHECK(!finalized_, "the plan is finalized; no node can be added");
  CN_CHECK(id >= 0 && id < int(buffers_.size()), what, ": unknown buffer id ", id, " (the plan has ",
           buffers_.size(), " buffers)");
}

const std::vector<int64_t>& Plan::buffer_shape(int id) const {
  CN_CHECK(id >= 0 && id < int(buffers_.size()), "unknown buffer id ", id);
  return buffers_[id].shape;
}

int Plan::push(Node n, std::vector<int64_t> out_shape) {
  n.in_shape = buffers_[n.inputs.at(0)].shape;
  n.out_shape = out_shape;
  n.output = new_buffer(std::move(out_shape));
  nodes_.push_back(std::move(n));
  return nodes_.back().output;
}

static Activation check_act(Activation a) {
  CN_CHECK(int(a) >= int(Activation::none) && int(a) <= int(Activation::hardsigmoid) && a != Activation::prelu,
           "unknown activation ", int(a),
           int(a) == int(Activation::prelu) ? " (prelu needs its slopes: only conv and linear nodes take it)" : "");
  return a;
}

// A conv/linear activation with prelu's slopes (1 shared, or one per output channel).
static void set_act(Node& n, Activation act, std::vector<float> slope, int64_t channels, const char* what) {
  if (act == Activation::prelu) {
    CN_CHECK(slope.size() == 1 || int64_t(slope.size()) == channels, what, " prelu slope must have 1 or ",
             channels, " values (its output channels), got ", slope.size());
    n.act = act;
    n.act_slope = std::move(slope);
    return;
  }
  CN_CHECK(slope.empty(), what, " slope is only for activation 'prelu'");
  n.act = check_act(act);
}

int Plan::add_conv(int input, std::vector<float> weight, const std::vector<int64_t>& wshape,
                   const std::vector<float>& bias, int64_t stride_h, int64_t stride_w,
                   const std::vector<int64_t>& padding, int64_t dilation_h, int64_t dilation_w,
                   int64_t groups, Activation act, int residual, std::vector<float> act_slope) {
  check_buffer(input, "conv input");
  const auto& in = buffers_[input].shape;
  CN_CHECK(in.size() == 4, "conv input must be 4-D (N, C, H, W), got ", shape_str(in));
  CN_CHECK(wshape.size() == 4, "conv weight must be 4-D (K, C/groups, R, S), got ", shape_str(wshape));
  CN_CHECK(padding.size() == 4, "conv padding must have 4 values (top, bottom, left, right)");
  CN_CHECK(groups >= 1, "conv groups must be >= 1, got ", groups);
  Node n;
  n.kind = OpKind::conv;
  n.inputs = {input};
  set_act(n, act, std::move(act_slope), wshape[0], "conv");
  ConvParams& p = n.conv;
  p.N = in[0]; p.C = in[1]; p.H = in[2]; p.W = in[3];
  p.K = wshape[0]; p.R = wshape[2]; p.S = wshape[3];
  p.stride_h = stride_h; p.stride_w = stride_w;
  p.dilation_h = dilation_h; p.dilation_w = dilation_w;
  p.pad_top = padding[0]; p.pad_bottom = padding[1]; p.pad_left = padding[2]; p.pad_right = padding[3];
  p.groups = groups;
  CN_CHECK(checked_mul(wshape[1], groups) == p.C, "conv weight ", shape_str(wshape), " with groups=", groups,
           " expects ", checked_mul(wshape[1], groups), " input channels, but the input is ", shape_str(in));
  p.validate();
  CN_CHECK(int64_t(weight.size()) == p.weight_numel(), "conv weight has ", weight.size(),
           " values, shape ", shape_str(wshape), " needs ", p.weight_numel());
  CN_CHECK(bias.empty() || int64_t(bias.size()) == p.K, "conv bias must have ", p.K, " values, got ",
           bias.size());
  std::vector<int64_t> out = {p.N, p.K, p.output_h(), p.output_w()};
  if (residual >= 0) {
    check_buffer(residual, "conv residual");
    CN_CHECK(buffers_[residual].shape == out, "conv residual has shape ", shape_str(buffers_[residual].shape),
             " but the convolution's output is ", shape_str(out));
    n.inputs.push_back(residual);
  }
  n.weight = std::move(weight);
  n.bias = bias.empty() ? std::vector<float>(size_t(p.K), 0.f) : bias;
  if (p.H == 1 && p.W == 1 && p.R == 1 && p.S == 1 && p.groups == 1 && p.pad_top == 0 && p.pad_bottom == 0 &&
      p.pad_left == 0 && p.pad_right == 0 && residual < 0) {
    // A 1x1 convolution of a 1x1 map (squeeze-and-excitation's two layers) is a linear
    // layer on the same memory, (N, C, 1, 1) = (N, C): the linear node's few-row GEMM
    // streams the weight once, where the conv's GEMM would repack it on every call.
    n.kind = OpKind::linear;
    n.in_features = p.C;
    n.out_features = p.K;
    if (precision_ == Precision::bf16) use_bf16_linear(n);
    return push(std::move(n), out);
  }
  if (precision_ == Precision::bf16 && bf16_conv_eligible(p, choice_)) {
    use_bf16_conv(n);  // bf16 GEMM instead of the fp32 method (engine/bf16_node.cc)
    return push(std::move(n), out);
  }
  configure_conv(n, choice_);
  return push(std::move(n), out);
}

int Plan::add_conv_transpose(int input, std::vector<float> weight, const std::vector<int64_t>& wshape,
                             const std::vector<float>& bias, int64_t stride_h, int64_t stride_w, int64_t padding_h,
                             int64_t padding_w, int64_t output_padding_h, int64_t output_padding_w,
                             int64_t dilation_h, int64_t dilation_w, int64_t groups, Activation act,
                             std::vector<float> act_slope) {
  check_buffer(input, "conv_transpose input");
  const auto& in = buffers_[input].shape;
  CN_CHECK(in.size() == 4, "conv_transpose input must be 4-D (N, C, H, W), got ", shape_str(in));
  CN_CHECK(wshape.size() == 4, "conv_transpose weight must be 4-D (C_in, C_out/groups, kH, kW), got ",
           shape_str(wshape));
  CN_CHECK(groups >= 1, "conv_transpose groups must be >= 1, got ", groups);
  CN_CHECK(wshape[0] == in[1] && in[1] % groups == 0, "conv_transpose weight ", shape_str(wshape),
           " with groups=", groups, " does not fit the input ", shape_str(in),
           ": need weight.shape[0] == in_channels, divisible by groups");
  CN_CHECK(wshape[1] > 0 && wshape[2] > 0 && wshape[3] > 0, "conv_transpose weight ", shape_str(wshape),
           " has an empty dimension");
  CN_CHECK(stride_h > 0 && stride_w > 0 && dilation_h > 0 && dilation_w > 0,
           "conv_transpose stride and dilation must be positive, got stride ", stride_h, "x", stride_w,
           ", dilation ", dilation_h, "x", dilation_w);
  CN_CHECK(padding_h >= 0 && padding_w >= 0 && output_padding_h >= 0 && output_padding_w >= 0,
           "conv_transpose padding and output_padding must be >= 0");
  CN_CHECK(output_padding_h < std::max(stride_h, dilation_h) && output_padding_w < std::max(stride_w, dilation_w),
           "conv_transpose output_padding ", output_padding_h, "x", output_padding_w,
           " must be smaller than either stride or dilation");
  // torch's size: (in - 1)*stride - 2*padding + dilation*(kernel - 1) + output_padding + 1.
  auto out_size = [](int64_t i, int64_t k, int64_t s, int64_t pad, int64_t d, int64_t op) {
    const char* what = "conv_transpose output size";
    const int64_t span = checked_add(checked_mul(i - 1, s, what), checked_mul(d, k - 1, what), what);
    return checked_add(span, checked_add(op, 1, what) - checked_mul(2, pad, what), what);
  };
  const int64_t oh = out_size(in[2], wshape[2], stride_h, padding_h, dilation_h, output_padding_h);
  const int64_t ow = out_size(in[3], wshape[3], stride_w, padding_w, dilation_w, output_padding_w);
  CN_CHECK(oh > 0 && ow > 0, "conv_transpose output size would be ", oh, "x", ow, " for the input ", shape_str(in),
           ": it must be positive");
  Node n;
  n.kind = OpKind::conv_transpose;
  n.inputs = {input};
  const int64_t c_out = checked_mul(wshape[1], groups, "conv_transpose channels");
  set_act(n, act, std::move(act_slope), c_out, "conv_transpose");
  ConvParams& p = n.conv;  // the convolution of an (oh, ow) image whose input gradient this is
  p.N = in[0]; p.C = c_out; p.H = oh; p.W = ow;
  p.K = in[1]; p.R = wshape[2]; p.S = wshape[3];
  p.stride_h = stride_h; p.stride_w = stride_w;
  p.dilation_h = dilation_h; p.dilation_w = dilation_w;
  p.pad_top = p.pad_bottom = padding_h; p.pad_left = p.pad_right = padding_w;
  p.groups = groups;
  p.validate();
  // Rows that convolution has beyond the input: output_padding >= stride (below dilation).
  n.extra_rows = output_padding_h / stride_h;
  n.extra_cols = output_padding_w / stride_w;
  CN_CHECK(p.output_h() == in[2] + n.extra_rows && p.output_w() == in[3] + n.extra_cols,
           "conv_transpose: internal size mismatch for the input ", shape_str(in));
  CN_CHECK(int64_t(weight.size()) == p.weight_numel(), "conv_transpose weight has ", weight.size(),
           " values, shape ", shape_str(wshape), " needs ", p.weight_numel());
  CN_CHECK(bias.empty() || int64_t(bias.size()) == c_out, "conv_transpose bias must have ", c_out,
           " values (out_channels), got ", bias.size());
  n.weight = std::move(weight);
  n.bias = bias.empty() ? std::vector<float>(size_t(c_out), 0.f) : bias;
  return push(std::move(n), {in[0], c_out, oh, ow});
}

// Output size of a pooling window along one axis, PyTorch's rule (ceil_mode drops a
// last window that would start in the right padding).
static int64_t pool_out(int64_t in, int64_t k, int64_t s, int64_t pad_begin, int64_t pad_end, int64_t d,
                        bool ceil_mode) {
  const int64_t span = in + pad_begin + pad_end - d * (k - 1) - 1;
  if (span < 0) return 0;
  int64_t out = (ceil_mode ? (span + s - 1) / s : span / s) + 1;
  if (ceil_mode && (out - 1) * s >= in + pad_begin) --out;
  return out;
}

static std::vector<int64_t> pool_shape(const std::vector<int64_t>& in, const PoolWindow& w, const char* what) {
  CN_CHECK(in.size() == 4, what, " input must be 4-D (N, C, H, W), got ", shape_str(in));
  CN_CHECK(w.kh > 0 && w.kw > 0, what, " kernel_size must be positive, got ", w.kh, "x", w.kw);
  CN_CHECK(w.sh > 0 && w.sw > 0, what, " stride must be positive, got ", w.sh, "x", w.sw);
  CN_CHECK(w.dh > 0 && w.dw > 0, what, " dilation must be positive, got ", w.dh, "x", w.dw);
  CN_CHECK(w.pad_top >= 0 && w.pad_bottom >= 0 && w.pad_left >= 0 && w.pad_right >= 0, what,
           " padding must be >= 0");
  CN_CHECK(2 * std::max(w.pad_top, w.pad_bottom) <= w.kh && 2 * std::max(w.pad_left, w.pad_right) <= w.kw,
           what, " padding must be at most half the kernel size (kernel ", w.kh, "x", w.kw, ")");
  const int64_t oh = pool_out(in[2], w.kh, w.sh, w.pad_top, w.pad_bottom, w.dh, w.ceil_mode);
  const int64_t ow = pool_out(in[3], w.kw, w.sw, w.pad_left, w.pad_right, w.dw, w.ceil_mode);
  CN_CHECK(oh > 0 && ow > 0, what, " window ", w.kh, "x", w.kw, " does not fit the input ", shape_str(in));
  return {in[0], in[1], oh, ow};
}

int Plan::add_max_pool(int input, const PoolWindow& w) {
  check_buffer(input, "max_pool input");
  Node n;
  n.kind = OpKind::max_pool;
  n.inputs = {input};
  n.pool = w;
  auto out = pool_shape(buffers_[input].shape, w, "max_pool");
  return push(std::move(n), out);
}

int Plan::add_avg_pool(int input, const PoolWindow& w) {
  check_buffer(input, "avg_pool input");
  CN_CHECK(w.dh == 1 && w.dw == 1, "avg_pool has no dilation");
  Node n;
  n.kind = OpKind::avg_pool;
  n.inputs = {input};
  n.pool = w;
  auto out = pool_shape(buffers_[input].shape, w, "avg_pool");
  return push(std::move(n), out);
}

int Plan::add_global_avg_pool(int input) {
  check_buffer(input, "global_avg_pool input");
  const auto& in = buffers_[input].shape;
  CN_CHECK(in.size() == 4, "global_avg_pool input must be 4-D (N, C, H, W), got ", shape_str(in));
  Node n;
  n.kind = OpKind::global_avg_pool;
  n.inputs = {input};
  return push(std::move(n), {in[0], in[1], 1, 1});
}

int Plan::add_linear(int input, std::vector<float> weight, int64_t out_features,
                     int64_t in_features, const std::vector<float>& bias, Activation act,
                     std::vector<float> act_slope) {
  check_buffer(input, "linear input");
  const BufferInfo& b = buffers_[input];
  CN_CHECK(out_features > 0 && in_features > 0, "linear sizes must be positive, got out=", out_features,
           " in=", in_features);
  CN_CHECK(b.per_sample() == in_features, "linear expects ", in_features, " features per sample, but its input is ",
           shape_str(b.shape));
  CN_CHECK(int64_t(weight.size()) == checked_mul(out_features, in_features), "linear weight has ", weight.size(),
           " values, expected ", out_features, " x ", in_features);
  CN_CHECK(bias.empty() || int64_t(bias.size()) == out_features, "linear bias must have ", out_features,
           " values, got ", bias.size());
  Node n;
  n.kind = OpKind::linear;
  n.inputs = {input};
  set_act(n, act, std::move(act_slope), out_features, "linear");
  n.in_features = in_features;
  n.out_features = out_features;
  n.weight = std::move(weight);
  n.bias = bias.empty() ? std::vector<float>(size_t(out_features), 0.f) : bias;
  if (precision_ == Precision::bf16) use_bf16_linear(n);
  return push(std::move(n), {b.shape[0], out_features});
}

int Plan::add_add(int a, int b, Activation act) {
  check_buffer(a, "add input a");
  check_buffer(b, "add input b");
  CN_CHECK(buffers_[a].shape == buffers_[b].shape, "add inputs differ in shape: ", shape_str(buffers_[a].shape),
           " and ", shape_str(buffers_[b].shape));
  Node n;
  n.kind = OpKind::add;
  n.inputs = {a, b};
  n.act = check_act(act);
  return push(std::move(n), buffers_[a].shape);
}

int Plan::add_channel_scale(int input, int scale) {
  check_buffer(input, "channel_scale input");
  check_buffer(scale, "channel_scale scale");
  const auto& x = buffers_[input].shape;
  const auto& s = buffers_[scale].shape;
  bool ok = x.size() >= 2 && s.size() >= 2 && s.size() <= x.size() && s[0] == x[0] && s[1] == x[1];
  for (size_t i = 2; ok && i < s.size(); ++i) ok = s[i] == 1;
  CN_CHECK(ok, "channel_scale: scale ", shape_str(s), " must be (N, C) or (N, C, 1, ...) of the input ",
           shape_str(x));
  Node n;
  n.kind = OpKind::channel_scale;
  n.inputs = {input, scale};
  return push(std::move(n), x);
}

// The resampling and channel-layout nodes all take one (N, C, H, W) buffer.
static const std::vector<int64_t>& image_shape(const std::vector<BufferInfo>& buffers, int input, const char* op) {
  const auto& x = buffers[input].shape;
  CN_CHECK(x.size() == 4, op, ": input must be (N, C, H, W), got ", shape_str(x));
  return x;
}

int Plan::add_interpolate(int input, int64_t out_h, int64_t out_w, const InterpSpec& spec) {
  check_buffer(input, "interpolate input");
  const auto& x = image_shape(buffers_, input, "interpolate");
  CN_CHECK(int(spec.mode) >= 0 && int(spec.mode) <= 2, "interpolate: unknown mode ", int(spec.mode));
  CN_CHECK(!spec.align_corners || spec.mode == InterpMode::linear,
           "interpolate: align_corners is only meaningful with the linear mode");
  Node n;
  n.kind = OpKind::interpolate;
  n.inputs = {input};
  n.interp = spec;
  n.in_shape = x;
  n.out_shape = {x[0], x[1], out_h, out_w};
  check_interpolate_node(n);
  return push(std::move(n), {x[0], x[1], out_h, out_w});
}

int Plan::add_pixel_shuffle(int input, int64_t upscale_factor) {
  check_buffer(input, "pixel_shuffle input");
  const auto& x = image_shape(buffers_, input, "pixel_shuffle");
  const int64_t r = upscale_factor;
  CN_CHECK(r >= 1 && r <= 64, "pixel_shuffle: upscale_factor must be between 1 and 64, got ", r);
  CN_CHECK(x[1] % (r * r) == 0, "pixel_shuffle: the ", x[1], " input channels are not divisible by upscale_factor**2 = ",
           r * r);
  Node n;
  n.kind = OpKind::pixel_shuffle;
  n.inputs = {input};
  n.factor = r;
  return push(std::move(n), {x[0], x[1] / (r * r), checked_mul(x[2], r, "output height"),
                             checked_mul(x[3], r, "output width")});
}

int Plan::add_pixel_unshuffle(int input, int64_t downscale_factor) {
  check_buffer(input, "pixel_unshuffle input");
  const auto& x = image_shape(buffers_, input, "pixel_unshuffle");
  const int64_t r = downscale_factor;
  CN_CHECK(r >= 1 && r <= 64, "pixel_unshuffle: downscale_factor must be between 1 and 64, got ", r);
  CN_CHECK(x[2] % r == 0 && x[3] % r == 0, "pixel_unshuffle: height ", x[2], " and width ", x[3],
           " must both be divisible by downscale_factor=", r);
  Node n;
  n.kind = OpKind::pixel_unshuffle;
  n.inputs = {input};
  n.factor = r;
  return push(std::move(n), {x[0], checked_mul(x[1], r * r, "output channels"), x[2] / r, x[3] / r});
}

int Plan::add_channel_shuffle(int input, int64_t groups) {
  check_buffer(input, "channel_shuffle input");
  const auto& x = image_shape(buffers_, input, "channel_shuffle");
  CN_CHECK(groups >= 1 && x[1] % groups == 0, "channel_shuffle: the ", x[1],
           " channels are not divisible by groups=", groups);
  Node n;
  n.kind = OpKind::channel_shuffle;
  n.inputs = {input};
  n.factor = groups;
  return push(std::move(n), x);
}

int Plan::add_channel_slice(int input, int64_t start, int64_t count) {
  check_buffer(input, "channel_slice input");
  auto out = buffers_[input].shape;
  CN_CHECK(out.size() >= 2, "channel_slice input must have a channel dimension, got ", shape_str(out));
  CN_CHECK(start >= 0 && count >= 1 && start <= out[1] && count <= out[1] - start, "channel_slice: channels [",
           start, ", ", start, " + ", count, ") are not inside the input's ", out[1]);
  Node n;
  n.kind = OpKind::channel_slice;
  n.inputs = {input};
  n.factor = start;
  out[1] = count;
  return push(std::move(n), out);
}

int Plan::add_concat(const std::vector<int>& inputs) {
  CN_CHECK(!inputs.empty(), "concat needs at least one input");
  for (int id : inputs) check_buffer(id, "concat input");
  auto out = buffers_[inputs[0]].shape;
  CN_CHECK(out.size() >= 2, "concat inputs must have a channel dimension, got ", shape_str(out));
  out[1] = 0;
  for (int id : inputs) {
    const auto& s = buffers_[id].shape;
    bool same = s.size() == out.size();
    for (size_t i = 0; same && i < s.size(); ++i) same = (i == 1) || s[i] == out[i];
    CN_CHECK(same, "concat inputs must agree in every dimension but 1: ", shape_str(buffers_[inputs[0]].shape),
             " vs ", shape_str(s));
    out[1] = checked_add(out[1], s[1], "concat channels");
  }
  Node n;
  n.kind = OpKind::concat;
  n.inputs = inputs;
  return push(std::move(n), out);
}

int Plan::add_flatten(int input) {
  check_buffer(input, "flatten input");
  const BufferInfo& b = buffers_[input];
  Node n;
  n.kind = OpKind::flatten;
  n.inputs = {input};
  const int64_t elem = b.elem_bytes;  // flattens uint8 buffers too
  const int id = push(std::move(n), {b.shape[0], b.per_sample()});
  buffers_[id].elem_bytes = elem;
  return id;
}

int Plan::add_softmax(int input) {
  check_buffer(input, "softmax input");
  const auto& s = buffers_[input].shape;
  CN_CHECK(s.size() == 2, "softmax input must be 2-D (N, F), got ", shape_str(s));
  Node n;
  n.kind = OpKind::softmax;
  n.inputs = {input};
  return push(std::move(n), s);
}

int Plan::add_channel_affine(int input, const std::vector<float>& scale, const std::vector<float>& shift,
                             Activation act) {
  check_buffer(input, "channel_affine input");
  const auto& s = buffers_[input].shape;
  CN_CHECK(s.size() >= 2, "channel_affine input must have a channel dimension, got ", shape_str(s));
  CN_CHECK(int64_t(scale.size()) == s[1] && int64_t(shift.size()) == s[1], "channel_affine needs ", s[1],
           " scales and shifts, got ", scale.size(), " and ", shift.size());
  Node n;
  n.kind = OpKind::channel_affine;
  n.inputs = {input};
  n.act = check_act(act);
  n.weight = scale;
  n.bias = shift;
  return push(std::move(n), s);
}

int Plan::add_activation(int input, Activation act) {
  check_buffer(input, "activation input");
  Node n;
  n.kind = OpKind::activation;
  n.inputs = {input};
  n.act = check_act(act);
  return push(std::move(n), buffers_[input].shape);
}

void Plan::finalize(int output) {
  CN_CHECK(!finalized_, "the plan is already finalized");
  CN_CHECK(output >= 0 && output < int(buffers_.size()), "finalize: unknown output buffer id ", output);
  CN_CHECK(output != 0 || nodes_.empty(), "finalize: the output cannot be the input buffer");
  CN_CHECK(buffers_[output].elem_bytes == 4, "finalize: the output must be a float32 buffer (dequantize it)");
  for (const Node& n : nodes_)  // float nodes read float buffers only (int8 nodes check their own)
    for (int id : n.inputs)
      CN_CHECK(is_int8_kind(n.kind) || n.kind == OpKind::flatten || buffers_[id].elem_bytes == 4, op_name(n.kind),
               " node reads uint8 buffer ", id, ": only int8 nodes take uint8 (dequantize it first)");
  output_ = output;
  planned_threads_ = num_threads();
  // Lifetimes: from the node that writes a buffer to the last node that reads it.
  for (auto& b : buffers_) b.first = b.last = -1;
  for (int i = 0; i < int(nodes_.size()); ++i) {
    Node& n = nodes_[i];
    buffers_[n.output].first = buffers_[n.output].last = i;
    for (int id : n.inputs) buffers_[id].last = std::max(buffers_[id].last, i);
    if (is_int8_kind(n.kind)) n.scratch_bytes = int8_scratch_bytes(n, planned_threads_);
    else configure_scratch(n, planned_threads_);
  }
  const std::vector<int> alias_of = alias_in_place_outputs(nodes_, buffers_, output_);
  const std::vector<int> concat_root = concat_parts_in_place(nodes_, buffers_, output_, alias_of);
  // A concat whose parts live in its bytes holds them from the first part's writing on.
  std::vector<int> held_from(buffers_.size(), -1);
  for (int id = 0; id < int(buffers_.size()); ++id) {
    buffers_[id].concat_root = concat_root[id];
    held_from[id] = buffers_[id].first;
  }
  for (int id = 0; id < int(buffers_.size()); ++id)
    if (concat_root[id] >= 0) held_from[concat_root[id]] = std::min(held_from[concat_root[id]], buffers_[id].first);
  std::vector<ArenaRequest> req;
  std::vector<int64_t*> where;
  for (int id = 1; id < int(buffers_.size()); ++id) {
    if (id == output_) continue;  // written straight into the caller's array
    if (alias_of[id] >= 0) continue;  // an in-place output: its input's bytes (placed below)
    if (concat_root[id] >= 0) continue;  // a slice of its concat's bytes (placed below)
    req.push_back({buffers_[id].bytes(), held_from[id], buffers_[id].last});
    where.push_back(&buffers_[id].offset);
  }
  for (int i = 0; i < int(nodes_.size()); ++i) {
    if (nodes_[i].scratch_bytes <= 0) continue;
    req.push_back({nodes_[i].scratch_bytes, i, i});
    where.push_back(&nodes_[i].scratch_offset);
  }
  ArenaLayout layout = plan_arena(req);
  for (size_t i = 0; i < req.size(); ++i) *where[i] = layout.offsets[i];
  for (int id = 1; id < int(buffers_.size()); ++id)
    if (alias_of[id] >= 0) buffers_[id].offset = buffers_[alias_of[id]].offset;
  for (const Node& n : nodes_) {  // the in-place concat parts, back to back in input order
    if (n.kind != OpKind::concat || n.inputs.empty() || concat_root[n.inputs[0]] != n.output) continue;
    int64_t offset = buffers_[n.output].offset;
    for (int id : n.inputs) {
      buffers_[id].offset = offset;
      offset += buffers_[id].bytes();
    }
  }
  for (const Node& n : nodes_)  // a chain's earlier concats: the first bytes of its root
    if (n.kind == OpKind::concat && concat_root[n.output] >= 0)
      buffers_[n.output].offset = buffers_[concat_root[n.output]].offset;
  arena_bytes_ = layout.total_bytes;
  finalized_ = true;
}

int64_t Plan::weight_bytes() const {
  int64_t b = 0;
  for (const Node& n : nodes_) {
    b += int64_t(n.bias.size() * sizeof(float));
    // A Winograd or prepacked conv keeps only its transformed filters (the OIHW copy is dropped).
    b += n.winograd_weights ? int64_t(winograd_weights_bytes(n)) : int64_t(n.weight.size() * sizeof(float));
    b += int64_t(prepacked_weights_bytes(n));  // gemm_prepacked: the packed copy replaces OIHW
    if (n.quant) b += int8_weight_bytes(n);
    b += bf16_weights_bytes(n);                 // bf16: the packed bf16 copy replaces OIHW
    if (n.subpixel_winograd) b += int64_t(n.subpixel_winograd->bytes());  // conv_transpose: kept beside OIHW
  }
  return b;
}

void Plan::set_precision(Precision p) {
  CN_CHECK(nodes_.empty() || p == precision_, "set_precision: the plan already has ", nodes_.size(),
           " nodes; set the precision before adding any");
  precision_ = p;
}

int64_t Plan::unshared_bytes() const {
  int64_t b = 0;
  for (int id = 1; id < int(buffers_.size()); ++id)
    if (id != output_) b += buffers_[id].bytes();
  for (const Node& n : nodes_) b += std::max<int64_t>(n.scratch_bytes, 0);
  return b;
}

}  // namespace engine
}  // namespace cnnnative
