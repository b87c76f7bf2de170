// Building the int8 nodes of a Plan (see engine/int8_nodes.h for what they compute).
#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "cnnnative/engine.h"
#include "cnnnative/errors.h"
#include "engine/int8_nodes.h"
#include "engine/int8_taps_geometry.h"

namespace cnnnative {
namespace engine {

namespace {
std::string shape_text(const std::vector<int64_t>& s) {
  std::string r = "(";
  for (size_t i = 0; i < s.size(); ++i) r += (i ? ", " : "") + std::to_string(s[i]);
  return r + ")";
}

void check_q(QParams q, const char* what) {
  CN_CHECK(std::isfinite(q.scale) && q.scale > 0.f, what, " scale must be positive and finite, got ", q.scale);
  CN_CHECK(q.zero >= 0 && q.zero <= 255, what, " zero point must be in [0, 255], got ", q.zero);
}

// Packs the (groups x rows) x K_gemm weights in blocks of at most kMBlock rows per group.
constexpr int64_t kMBlock = 256;
// K: the packed columns per row (q.K_gemm, or the taps layout's). A conv whose output
// pixels fit one pixel block (14x14, 7x7) splits 128 to 256 rows into two blocks of whole
// tiles, so two threads get one block each: as one block of 256 rows it was one work item,
// and the second thread idled through a 1x1 1024->256 at 14x14. On one thread the split
// costs the second packing of X per block: 0.262 -> 0.277 ms on that layer (blocks of 128
// rows, the last 6-row tile of each part empty), less with blocks of whole 6-row tiles.
// lanes_m: packed by pack_weights_s8_lanes_m (int8_conv_taps_lanes_m).
void pack_blocks(QuantNode& q, const int8_t* w, int64_t groups, int64_t rows, int64_t n_hint, int64_t K,
                 bool split = false, bool lanes_m = false) {
  q.m_block = std::min(rows, kMBlock);
  if (split && rows >= 128 && rows <= kMBlock) {
    // the transposed VNNI tiles' rows; else 6- and 4-row tiles'
    const int64_t unit = lanes_m || n_hint <= 64 ? 64 : 12;
    q.m_block = ((rows + 1) / 2 + unit - 1) / unit * unit;
  }
  q.m_blocks = (rows + q.m_block - 1) / q.m_block;
  for (int64_t g = 0; g < groups; ++g)
    for (int64_t b = 0; b < q.m_blocks; ++b) {
      const int64_t m0 = b * q.m_block, m = std::min(q.m_block, rows - m0);
      const int8_t* wb = w + (g * rows + m0) * K;
      q.packed.push_back(lanes_m ? quant::pack_weights_s8_lanes_m(wb, m, K) : quant::pack_weights_s8(wb, m, K, n_hint));
    }
}

// (K, C/g, R, S) weights -> (K, R*S, round_up(C/g, 4)) with zeros in the padding columns:
// the column order of the implicit GEMM over taps (quant::gemm_s8u8_s32_taps).
std::vector<int8_t> taps_order(const std::vector<int8_t>& w, int64_t K, int64_t cpg, int64_t taps) {
  const int64_t rows = (cpg + 3) / 4 * 4;
  std::vector<int8_t> out(size_t(K * taps * rows), 0);
  for (int64_t k = 0; k < K; ++k)
    for (int64_t c = 0; c < cpg; ++c)
      for (int64_t t = 0; t < taps; ++t) out[size_t((k * taps + t) * rows + c)] = w[size_t((k * cpg + c) * taps + t)];
  return out;
}

Activation check_int8_act(Activation a, const char* what) {
  CN_CHECK(a == Activation::none || a == Activation::relu || a == Activation::relu6 || a == Activation::silu ||
               a == Activation::hardswish || a == Activation::gelu || a == Activation::gelu_tanh ||
               a == Activation::sigmoid || a == Activation::hardsigmoid,
           what, " takes activation none, relu, relu6, silu, hardswish, gelu, gelu_tanh, sigmoid or hardsigmoid, got ",
           int(a));
  return a;
}
}  // namespace

// Each int8 add_* checks the element type of its inputs (the float nodes check theirs in push).
#define CHECK_ELEM(id, bytes, what)                                                                    \
  CN_CHECK(buffers_[id].elem_bytes == (bytes), what, " must be a ", (bytes) == 1 ? "uint8" : "float32", \
           " buffer, buffer ", id, " is ", buffers_[id].elem_bytes == 1 ? "uint8" : "float32")

int Plan::add_quantize(int input, float scale, int32_t zero) {
  check_buffer(input, "quantize input");
  CHECK_ELEM(input, 4, "quantize input");
  auto q = std::make_shared<QuantNode>();
  q->out = {scale, zero};
  check_q(q->out, "quantize");
  Node n;
  n.kind = OpKind::quantize;
  n.inputs = {input};
  n.quant = q;
  const int id = push(std::move(n), buffers_[input].shape);
  buffers_[id].elem_bytes = 1;
  return id;
}

int Plan::add_dequantize(int input, float scale, int32_t zero) {
  check_buffer(input, "dequantize input");
  CHECK_ELEM(input, 1, "dequantize input");
  auto q = std::make_shared<QuantNode>();
  q->in = {scale, zero};
  check_q(q->in, "dequantize");
  Node n;
  n.kind = OpKind::dequantize;
  n.inputs = {input};
  n.quant = q;
  return push(std::move(n), buffers_[input].shape);
}

int Plan::add_conv_int8(int input, QParams in, std::vector<int8_t> weight, const std::vector<int64_t>& wshape,
                        const std::vector<float>& mult, const std::vector<float>& bias, int64_t stride_h,
                        int64_t stride_w, const std::vector<int64_t>& padding, int64_t dilation_h,
                        int64_t dilation_w, int64_t groups, Activation act, int residual, QParams res,
                        bool out_u8, QParams out) {
  check_buffer(input, "conv_int8 input");
  CHECK_ELEM(input, 1, "conv_int8 input");
  check_q(in, "conv_int8 input");
  if (out_u8) check_q(out, "conv_int8 output");
  const auto& x = buffers_[input].shape;
  CN_CHECK(x.size() == 4, "conv_int8 input must be 4-D (N, C, H, W), got ", shape_text(x));
  CN_CHECK(wshape.size() == 4, "conv_int8 weight must be 4-D (K, C/groups, R, S), got ", shape_text(wshape));
  CN_CHECK(padding.size() == 4, "conv_int8 padding must have 4 values (top, bottom, left, right)");
  CN_CHECK(groups >= 1, "conv_int8 groups must be >= 1, got ", groups);
  Node n;
  n.kind = OpKind::conv_int8;
  n.inputs = {input};
  n.act = check_int8_act(act, "conv_int8");
  ConvParams& p = n.conv;
  p.N = x[0]; p.C = x[1]; p.H = x[2]; p.W = x[3];
  p.K = wshape[0]; p.R = wshape[2]; p.S = wshape[3];
  p.stride_h = stride_h; p.stride_w = stride_w;
  p.dilation_h = dilation_h; p.dilation_w = dilation_w;
  p.pad_top = padding[0]; p.pad_bottom = padding[1]; p.pad_left = padding[2]; p.pad_right = padding[3];
  p.groups = groups;
  CN_CHECK(checked_mul(wshape[1], groups) == p.C, "conv_int8 weight ", shape_text(wshape), " with groups=", groups,
           " expects ", checked_mul(wshape[1], groups), " input channels, but the input is ", shape_text(x));
  p.validate();
  CN_CHECK(int64_t(weight.size()) == p.weight_numel(), "conv_int8 weight has ", weight.size(), " values, shape ",
           shape_text(wshape), " needs ", p.weight_numel());
  CN_CHECK(int64_t(mult.size()) == p.K, "conv_int8 mult must have ", p.K, " values, got ", mult.size());
  CN_CHECK(bias.empty() || int64_t(bias.size()) == p.K, "conv_int8 bias must have ", p.K, " values, got ",
           bias.size());
  std::vector<int64_t> oshape = {p.N, p.K, p.output_h(), p.output_w()};
  auto q = std::make_shared<QuantNode>();
  q->in = in;
  q->out = out;
  q->out_u8 = out_u8;
  if (residual >= 0) {
    check_buffer(residual, "conv_int8 residual");
    CN_CHECK(buffers_[residual].shape == oshape, "conv_int8 residual has shape ",
             shape_text(buffers_[residual].shape), " but the convolution's output is ", shape_text(oshape));
    q->res_u8 = buffers_[residual].elem_bytes == 1;
    if (q->res_u8) check_q(res, "conv_int8 residual");
    q->res = res;
    n.inputs.push_back(residual);
  }
  const int64_t cpg = p.C / groups, kpg = p.K / groups, taps = p.R * p.S;
  q->K_gemm = cpg * taps;
  q->mult = mult;
  q->bias = bias.empty() ? std::vector<float>(size_t(p.K), 0.f) : bias;
  q->corr.assign(size_t(p.K), 0);
  for (int64_t k = 0; k < p.K; ++k) {
    int64_t sum = 0;
    for (int64_t i = 0; i < q->K_gemm; ++i) sum += weight[size_t(k * q->K_gemm + i)];
    q->corr[size_t(k)] = int32_t(-int64_t(in.zero) * sum);
  }
  q->depthwise = groups == p.C && groups == p.K && groups > 1;
  if (q->depthwise) {
    q->weight = std::move(weight);
  } else {
    // n_hint: the columns of each GEMM call (a block of output pixels)
    const bool lanes_m = int8_conv_taps_lanes_m(p);
    q->taps = lanes_m || int8_conv_uses_taps(p);
    if (q->taps) q->taps_geometry = int8_taps_geometry(p, lanes_m);
    if (lanes_m) {  // the GEMM's columns are the output pixels, at most one block
      pack_blocks(*q, taps_order(weight, p.K, cpg, taps).data(), groups, kpg, p.output_h() * p.output_w(),
                  taps * ((cpg + 3) / 4 * 4), p.output_h() * p.output_w() <= kInt8PixelBlock, true);
    } else if (q->taps) {
      pack_blocks(*q, taps_order(weight, p.K, cpg, taps).data(), groups, kpg,
                  std::min(int8_taps_columns(p), kInt8PixelBlock), taps * ((cpg + 3) / 4 * 4),
                  int8_taps_columns(p) <= kInt8PixelBlock);
    } else {
      pack_blocks(*q, weight.data(), groups, kpg, std::min(p.output_h() * p.output_w(), kInt8PixelBlock),
                  q->K_gemm, p.output_h() * p.output_w() <= kInt8PixelBlock);
    }
  }
  n.quant = q;
  const int id = push(std::move(n), oshape);
  if (out_u8) buffers_[id].elem_bytes = 1;
  return id;
}

int Plan::add_linear_int8(int input, QParams in, std::vector<int8_t> weight, int64_t out_features,
                          int64_t in_features, const std::vector<float>& mult, const std::vector<float>& bias,
                          Activation act, bool out_u8, QParams out) {
  check_buffer(input, "linear_int8 input");
  CHECK_ELEM(input, 1, "linear_int8 input");
  check_q(in, "linear_int8 input");
  if (out_u8) check_q(out, "linear_int8 output");
  const BufferInfo& b = buffers_[input];
  CN_CHECK(out_features > 0 && in_features > 0, "linear_int8 sizes must be positive");
  CN_CHECK(b.per_sample() == in_features, "linear_int8 expects ", in_features,
           " features per sample, but its input is ", shape_text(b.shape));
  CN_CHECK(int64_t(weight.size()) == checked_mul(out_features, in_features), "linear_int8 weight has ",
           weight.size(), " values, expected ", out_features, " x ", in_features);
  CN_CHECK(int64_t(mult.size()) == out_features, "linear_int8 mult must have ", out_features, " values");
  CN_CHECK(bias.empty() || int64_t(bias.size()) == out_features, "linear_int8 bias must have ", out_features,
           " values");
  Node n;
  n.kind = OpKind::linear_int8;
  n.inputs = {input};
  n.act = check_int8_act(act, "linear_int8");
  n.in_features = in_features;
  n.out_features = out_features;
  auto q = std::make_shared<QuantNode>();
  q->in = in;
  q->out = out;
  q->out_u8 = out_u8;
  q->K_gemm = in_features;
  q->mult = mult;
  q->bias = bias.empty() ? std::vector<float>(size_t(out_features), 0.f) : bias;
  pack_blocks(*q, weight.data(), 1, out_features, std::max<int64_t>(b.shape[0], 1),  // n_hint: the batch
              in_features);
  q->corr.assign(size_t(out_features), 0);
  for (int64_t k = 0; k < out_features; ++k) {
    int64_t sum = 0;
    for (int64_t i = 0; i < in_features; ++i) sum += weight[size_t(k * in_features + i)];
    q->corr[size_t(k)] = int32_t(-int64_t(in.zero) * sum);
  }
  n.quant = q;
  const int id = push(std::move(n), {b.shape[0], out_features});
  if (out_u8) buffers_[id].elem_bytes = 1;
  return id;
}

// The uint8 pools keep the input's scale and zero point (a uint8 output) or dequantize.
int Plan::add_max_pool_u8(int input, const PoolWindow& w, QParams qp, bool out_u8) {
  check_buffer(input, "max_pool_u8 input");
  CHECK_ELEM(input, 1, "max_pool_u8 input");
  check_q(qp, "max_pool_u8");
  const int fid = add_max_pool(input, w);  // shape checks; then retyped below
  Node& n = nodes_.back();
  n.kind = OpKind::max_pool_u8;
  auto q = std::make_shared<QuantNode>();
  q->in = q->out = qp;
  q->out_u8 = out_u8;
  n.quant = q;
  if (out_u8) buffers_[fid].elem_bytes = 1;
  return fid;
}

int Plan::add_avg_pool_u8(int input, const PoolWindow& w, QParams qp, bool out_u8) {
  check_buffer(input, "avg_pool_u8 input");
  CHECK_ELEM(input, 1, "avg_pool_u8 input");
  check_q(qp, "avg_pool_u8");
  const int fid = add_avg_pool(input, w);
  Node& n = nodes_.back();
  n.kind = OpKind::avg_pool_u8;
  auto q = std::make_shared<QuantNode>();
  q->in = q->out = qp;
  q->out_u8 = out_u8;
  n.quant = q;
  if (out_u8) buffers_[fid].elem_bytes = 1;
  return fid;
}

int Plan::add_global_avg_pool_u8(int input, QParams qp, bool out_u8) {
  check_buffer(input, "global_avg_pool_u8 input");
  CHECK_ELEM(input, 1, "global_avg_pool_u8 input");
  check_q(qp, "global_avg_pool_u8");
  const int fid = add_global_avg_pool(input);
  Node& n = nodes_.back();
  n.kind = OpKind::global_avg_pool_u8;
  auto q = std::make_shared<QuantNode>();
  q->in = q->out = qp;
  q->out_u8 = out_u8;
  n.quant = q;
  if (out_u8) buffers_[fid].elem_bytes = 1;
  return fid;
}

int Plan::add_concat_u8(const std::vector<int>& inputs, const std::vector<QParams>& in, QParams out) {
  CN_CHECK(inputs.size() == in.size(), "concat_u8: ", inputs.size(), " inputs but ", in.size(),
           " quantization parameters");
  for (int id : inputs) {
    check_buffer(id, "concat_u8 input");
    CHECK_ELEM(id, 1, "concat_u8 input");
  }
  check_q(out, "concat_u8 output");
  auto q = std::make_shared<QuantNode>();
  q->out = out;
  for (const QParams& p : in) {
    check_q(p, "concat_u8 input");
    std::vector<uint8_t> t(256);
    for (int v = 0; v < 256; ++v) {
      const float real = p.scale * float(v - p.zero);
      const float r = std::nearbyint(real / out.scale) + float(out.zero);
      t[size_t(v)] = uint8_t(std::min(255.f, std::max(0.f, r)));
    }
    bool same = true;
    for (int v = 0; v < 256; ++v) same = same && t[size_t(v)] == v;
    q->identity.push_back(same);
    q->tables.push_back(std::move(t));
  }
  for (int id : inputs) q->parts.push_back(buffers_[id].per_sample());
  const int fid = add_concat(inputs);
  Node& n = nodes_.back();
  n.kind = OpKind::concat_u8;
  n.quant = q;
  buffers_[fid].elem_bytes = 1;
  return fid;
}

}  // namespace engine
}  // namespace cnnnative
