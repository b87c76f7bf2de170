// The plan file loader: validates a whole file, then replays its Plan::add_* calls
// (docs/plan_format.md). Nothing read from the file is used before it is checked: sizes are
// int64 with overflow checks and bounded by the file size, attributes are bounded before
// add_* sees them (which checks them again, the way the Python API's calls are checked),
// and every exception becomes a ValueError naming the node and the field.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <new>
#include <utility>

#include "cnnnative/errors.h"
#include "cnnnative/plan_file.h"
#include "planfile/format.h"
#include "planfile/limits.h"
#include "planfile/reader.h"

// The loader decodes integers byte by byte, but copies float32 tensors as they lie.
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "the plan loader assumes a little-endian CPU");

namespace cnnnative::planfile {

using engine::Activation;
using engine::Plan;

namespace {

// Attribute bounds: kernel sizes, strides, paddings, dilations, output sizes, factors and
// channel indices of any real network are far below 2^31; bounding them keeps every sum
// and product the plan computes from them well inside int64.
constexpr int64_t kMaxAttr = (int64_t(1) << 31) - 1;
constexpr int64_t kMaxDim = int64_t(1) << 40;  // any tensor or buffer dimension
constexpr int64_t kMaxRank = 8;
constexpr int64_t kMaxName = 4096;
constexpr int64_t kMaxSections = 64;
constexpr int64_t kMaxNodes = int64_t(1) << 20;

int64_t g_max_buffer_bytes = int64_t(1) << 38;
bool g_autotune_allowed = true;

// Hands the pages of a memory-mapped file back once they are read (the checksum pass, each
// tensor once copied into the plan), so loading from a file never holds the whole file
// resident next to the plan's own copy of the weights. A no-op for a caller's buffer.
struct PageRelease {
  const uint8_t* base = nullptr;  // the mapping, or nullptr
  void operator()(int64_t offset, int64_t bytes) const {
    if (!base || bytes <= 0) return;
    const int64_t page = sysconf(_SC_PAGESIZE);
    const int64_t begin = (offset + page - 1) / page * page, end = (offset + bytes) / page * page;
    if (end > begin) madvise(const_cast<uint8_t*>(base) + begin, size_t(end - begin), MADV_DONTNEED);
  }
};

std::string shape_str(const std::vector<int64_t>& s) {
  std::string r = "(";
  for (size_t i = 0; i < s.size(); ++i) r += (i ? ", " : "") + std::to_string(s[i]);
  return r + ")";
}

[[noreturn]] void fail(const std::string& msg) { throw std::invalid_argument("plan file: " + msg); }

const char* dtype_name(uint32_t d) {
  switch (DType(d)) {
    case DType::float32: return "float32";
    case DType::float16: return "float16";
    case DType::bfloat16: return "bfloat16";
    case DType::int8: return "int8";
    case DType::int32: return "int32";
    case DType::uint8: return "uint8";
  }
  return nullptr;
}
int64_t dtype_bytes(uint32_t d) {
  switch (DType(d)) {
    case DType::float32: case DType::int32: return 4;
    case DType::float16: case DType::bfloat16: return 2;
    case DType::int8: case DType::uint8: return 1;
  }
  return 0;
}

const char* op_file_name(uint32_t op) {
  switch (FileOp(op)) {
    case FileOp::conv: return "conv";
    case FileOp::conv_transpose: return "conv_transpose";
    case FileOp::max_pool: return "max_pool";
    case FileOp::avg_pool: return "avg_pool";
    case FileOp::global_avg_pool: return "global_avg_pool";
    case FileOp::linear: return "linear";
    case FileOp::add: return "add";
    case FileOp::concat: return "concat";
    case FileOp::flatten: return "flatten";
    case FileOp::softmax: return "softmax";
    case FileOp::channel_affine: return "channel_affine";
    case FileOp::activation: return "activation";
    case FileOp::channel_scale: return "channel_scale";
    case FileOp::interpolate: return "interpolate";
    case FileOp::pixel_shuffle: return "pixel_shuffle";
    case FileOp::pixel_unshuffle: return "pixel_unshuffle";
    case FileOp::channel_shuffle: return "channel_shuffle";
    case FileOp::channel_slice: return "channel_slice";
    case FileOp::quantize: return "quantize";
    case FileOp::dequantize: return "dequantize";
    case FileOp::conv_int8: return "conv_int8";
    case FileOp::linear_int8: return "linear_int8";
    case FileOp::max_pool_u8: return "max_pool_u8";
    case FileOp::avg_pool_u8: return "avg_pool_u8";
    case FileOp::global_avg_pool_u8: return "global_avg_pool_u8";
    case FileOp::concat_u8: return "concat_u8";
  }
  return nullptr;
}

// Reads a shape: u32 rank, then rank int64 dimensions, each in [0, kMaxDim].
std::vector<int64_t> read_shape(Reader& r, const std::string& field) {
  const int64_t rank = r.count(field + " rank", 8, kMaxRank);
  std::vector<int64_t> s(static_cast<size_t>(rank));
  for (int64_t i = 0; i < rank; ++i) {
    s[size_t(i)] = r.i64(concat(field, " dimension ", i));
    if (s[size_t(i)] < 0 || s[size_t(i)] > kMaxDim)
      fail(concat(field, " dimension ", i, " is ", s[size_t(i)], "; it must be in [0, ", kMaxDim, "]"));
  }
  return s;
}

struct TensorEntry {
  std::string name;
  uint32_t dtype = 0;
  std::vector<int64_t> shape;
  int64_t offset = 0, nbytes = 0, numel = 0;  // offset: from the file's start
};

struct IoEntry {
  std::string name;
  std::vector<int64_t> shape;
};

IoEntry read_io(Reader& r, const char* what) {
  IoEntry e;
  e.name = r.str(concat(what, " name"), kMaxName);
  if (e.name.empty()) fail(concat(what, " name is empty"));
  e.shape = read_shape(r, concat(what, " shape"));
  if (e.shape.size() < 2) fail(concat(what, " shape ", shape_str(e.shape), " must have a batch and a sample dimension"));
  for (size_t i = 1; i < e.shape.size(); ++i)
    if (e.shape[i] <= 0) fail(concat(what, " shape ", shape_str(e.shape), " has an empty sample dimension"));
  int64_t n = 1;
  for (int64_t d : e.shape) n = checked_mul(n, d, what);
  return e;
}

// One node's record (generic layout; the op says how many of each it needs).
struct NodeRecord {
  uint32_t op = 0;
  std::vector<int> inputs;
  std::vector<int64_t> ints;
  std::vector<double> reals;
  std::vector<int64_t> tensors;  // indices into the tensor table, -1 = none
  int output = -1;
};

class Builder {
 public:
  Builder(const uint8_t* base, std::vector<TensorEntry> tensors, Plan& plan, const PageRelease& release)
      : base_(base), tensors_(std::move(tensors)), plan_(plan), release_(release) {}

  void add(const NodeRecord& n, int64_t index) {
    index_ = index;
    name_ = op_file_name(n.op);
    int id = -1;
    switch (FileOp(n.op)) {
      case FileOp::conv: id = conv(n); break;
      case FileOp::conv_transpose: id = conv_transpose(n); break;
      case FileOp::max_pool:
      case FileOp::avg_pool: id = pool(n); break;
      case FileOp::global_avg_pool:
        expect(n, 1, 1, 0, 0, 0);
        id = plan_.add_global_avg_pool(n.inputs[0]);
        break;
      case FileOp::linear: id = linear(n); break;
      case FileOp::add:
        expect(n, 2, 2, 1, 0, 0);
        id = plan_.add_add(n.inputs[0], n.inputs[1], act(n.ints[0], false));
        break;
      case FileOp::concat:
        expect(n, 1, 1 << 20, 0, 0, 0);
        id = plan_.add_concat(n.inputs);
        break;
      case FileOp::flatten:
        expect(n, 1, 1, 0, 0, 0);
        id = plan_.add_flatten(n.inputs[0]);
        break;
      case FileOp::softmax:
        expect(n, 1, 1, 0, 0, 0);
        id = plan_.add_softmax(n.inputs[0]);
        break;
      case FileOp::channel_affine: {
        expect(n, 1, 1, 1, 0, 2);
        std::vector<float> scale = floats(n.tensors[0], "scale", 1, true);
        std::vector<float> shift = floats(n.tensors[1], "shift", 1, true);
        id = plan_.add_channel_affine(n.inputs[0], scale, shift, act(n.ints[0], false));
        break;
      }
      case FileOp::activation:
        expect(n, 1, 1, 1, 0, 0);
        id = plan_.add_activation(n.inputs[0], act(n.ints[0], false));
        break;
      case FileOp::channel_scale:
        expect(n, 2, 2, 0, 0, 0);
        id = plan_.add_channel_scale(n.inputs[0], n.inputs[1]);
        break;
      case FileOp::interpolate: id = interpolate(n); break;
      case FileOp::pixel_shuffle:
        expect(n, 1, 1, 1, 0, 0);
        id = plan_.add_pixel_shuffle(n.inputs[0], attr(n, 0, "upscale_factor", 1));
        break;
      case FileOp::pixel_unshuffle:
        expect(n, 1, 1, 1, 0, 0);
        id = plan_.add_pixel_unshuffle(n.inputs[0], attr(n, 0, "downscale_factor", 1));
        break;
      case FileOp::channel_shuffle:
        expect(n, 1, 1, 1, 0, 0);
        id = plan_.add_channel_shuffle(n.inputs[0], attr(n, 0, "groups", 1));
        break;
      case FileOp::channel_slice:
        expect(n, 1, 1, 2, 0, 0);
        id = plan_.add_channel_slice(n.inputs[0], attr(n, 0, "start", 0), attr(n, 1, "count", 1));
        break;
      case FileOp::quantize:
      case FileOp::dequantize: {
        expect(n, 1, 1, 1, 1, 0);
        const Plan::QParams q = qparams(n, 0, 0, "");
        id = FileOp(n.op) == FileOp::quantize ? plan_.add_quantize(n.inputs[0], q.scale, q.zero)
                                               : plan_.add_dequantize(n.inputs[0], q.scale, q.zero);
        break;
      }
      case FileOp::conv_int8: id = conv_int8(n); break;
      case FileOp::linear_int8: id = linear_int8(n); break;
      case FileOp::max_pool_u8:
      case FileOp::avg_pool_u8: id = pool_u8(n); break;
      case FileOp::global_avg_pool_u8:
        expect(n, 1, 1, 2, 1, 0);
        id = plan_.add_global_avg_pool_u8(n.inputs[0], qparams(n, 0, 0, ""), flag(n, 1, "out_u8"));
        break;
      case FileOp::concat_u8: {
        expect(n, 1, 1 << 20, n.inputs.size() + 1, n.inputs.size() + 1, 0);
        std::vector<Plan::QParams> in;
        for (size_t i = 0; i < n.inputs.size(); ++i) in.push_back(qparams(n, i, i, concat("input ", i, " ").c_str()));
        id = plan_.add_concat_u8(n.inputs, in, qparams(n, n.inputs.size(), n.inputs.size(), "output "));
        break;
      }
      default: fail(concat("node ", index, ": unknown op kind ", n.op));
    }
    if (id != n.output)
      fail(concat("node ", index, " (", name_, "): the file says it writes buffer ", n.output,
                  " but replaying it wrote buffer ", id));
    check_buffer_size(id);
  }

  const std::vector<TensorEntry>& tensors() const { return tensors_; }

 private:
  [[noreturn]] void node_fail(const std::string& msg) const {
    fail(concat("node ", index_, " (", name_, "): ", msg));
  }

  void check_buffer_size(int id) const {
    const auto& s = plan_.buffer_shape(id);
    int64_t bytes = 4;
    for (int64_t d : s) bytes = checked_mul(bytes, d, "buffer size");
    if (bytes > g_max_buffer_bytes)
      node_fail(concat("its output ", shape_str(s), " takes ", bytes, " bytes, more than the loader's limit of ",
                       g_max_buffer_bytes));
  }

  // The record has inputs in [min_in, max_in] and exactly these many ints, reals, tensors;
  // every input is a buffer that exists.
  void expect(const NodeRecord& n, size_t min_in, size_t max_in, size_t ints, size_t reals, size_t tensors) const {
    if (n.inputs.size() < min_in || n.inputs.size() > max_in)
      node_fail(concat("has ", n.inputs.size(), " inputs, expected ", min_in == max_in ? "" : "between ", min_in,
                       min_in == max_in ? "" : concat(" and ", max_in)));
    if (n.ints.size() != ints) node_fail(concat("has ", n.ints.size(), " integer attributes, expected ", ints));
    if (n.reals.size() != reals) node_fail(concat("has ", n.reals.size(), " real attributes, expected ", reals));
    if (n.tensors.size() != tensors) node_fail(concat("has ", n.tensors.size(), " tensors, expected ", tensors));
    const int buffers = int(plan_.buffers().size());
    for (size_t i = 0; i < n.inputs.size(); ++i)
      if (n.inputs[i] < 0 || n.inputs[i] >= buffers)
        node_fail(concat("input ", i, " is buffer ", n.inputs[i], ", which does not exist yet (", buffers,
                         " buffers so far)"));
  }

  int64_t attr(const NodeRecord& n, size_t i, const char* what, int64_t lo, int64_t hi = kMaxAttr) const {
    const int64_t v = n.ints[i];
    if (v < lo || v > hi) node_fail(concat(what, " is ", v, "; it must be in [", lo, ", ", hi, "]"));
    return v;
  }
  bool flag(const NodeRecord& n, size_t i, const char* what) const { return attr(n, i, what, 0, 1) != 0; }

  Activation act(int64_t v, bool prelu_ok) const {
    if (v < int64_t(Activation::none) || v > int64_t(Activation::hardsigmoid))
      node_fail(concat("activation code ", v, " is unknown (0..", int(Activation::hardsigmoid), ")"));
    if (!prelu_ok && Activation(v) == Activation::prelu) node_fail("activation prelu is only for conv and linear nodes");
    return Activation(v);
  }

  const TensorEntry& tensor(int64_t t, const char* what, DType want = DType::float32) const {
    if (t < 0 || t >= int64_t(tensors_.size()))
      node_fail(concat(what, " is tensor ", t, "; the tensor table has ", tensors_.size(), " tensors"));
    const TensorEntry& e = tensors_[size_t(t)];
    if (DType(e.dtype) != want)
      node_fail(concat(what, " tensor '", e.name, "' is ", dtype_name(e.dtype), "; this reader takes ",
                       dtype_name(uint32_t(want)), " for it"));
    return e;
  }

  // A quantization (scale, zero point) from the node's reals[r] and ints[i]: the scale a
  // finite positive float32, the zero point in [0, 255] (add_* checks them again).
  Plan::QParams qparams(const NodeRecord& n, size_t r, size_t i, const char* what) const {
    const double s = n.reals[r];
    if (!(std::isfinite(s) && s > 0.0 && s <= double(std::numeric_limits<float>::max())))
      node_fail(concat(what, "scale is ", s, "; it must be a positive finite float32"));
    Plan::QParams q;
    q.scale = float(s);
    q.zero = int32_t(attr(n, i, concat(what, "zero point").c_str(), 0, 255));
    return q;
  }

  // An int8 node's int8 weight (of `rank` dims, each in [1, kMaxAttr]).
  std::vector<int8_t> int8s(int64_t t, size_t rank, std::vector<int64_t>* shape) const {
    const TensorEntry& e = tensor(t, "weight", DType::int8);
    if (e.shape.size() != rank) node_fail(concat("weight '", e.name, "' has shape ", shape_str(e.shape), ", expected ", rank, "-D"));
    for (int64_t d : e.shape)
      if (d < 1 || d > kMaxAttr) node_fail(concat("weight '", e.name, "' has shape ", shape_str(e.shape)));
    *shape = e.shape;
    return values<int8_t>(e);
  }

  // A checked tensor's elements, copied out of the file (whose pages are then released).
  template <typename T>
  std::vector<T> values(const TensorEntry& e) const {
    std::vector<T> v(size_t(e.numel));
    if (e.numel) std::memcpy(v.data(), base_ + e.offset, size_t(e.nbytes));
    release_(e.offset, e.nbytes);
    return v;
  }

  // A tensor's values (rank checked), or empty for -1 when optional.
  std::vector<float> floats(int64_t t, const char* what, size_t rank, bool required) const {
    if (t == -1 && !required) return {};
    const TensorEntry& e = tensor(t, what);
    if (e.shape.size() != rank)
      node_fail(concat(what, " tensor '", e.name, "' has shape ", shape_str(e.shape), ", expected ", rank, "-D"));
    return values<float>(e);
  }

  // The 4-D weight tensor of a conv or conv_transpose node, its dims checked.
  const TensorEntry& weight4(const NodeRecord& n) {
    const TensorEntry& w = tensor(n.tensors[0], "weight");
    if (w.shape.size() != 4) node_fail(concat("weight '", w.name, "' has shape ", shape_str(w.shape), ", expected 4-D"));
    for (int64_t d : w.shape)
      if (d < 1 || d > kMaxAttr) node_fail(concat("weight '", w.name, "' has shape ", shape_str(w.shape)));
    return w;
  }

  // Their weight, bias (or empty) and PReLU slope (or empty).
  struct ConvTensors {
    std::vector<float> weight, bias, slope;
  };
  ConvTensors conv_tensors(const NodeRecord& n) {
    return {floats(n.tensors[0], "weight", 4, true), floats(n.tensors[1], "bias", 1, false),
            floats(n.tensors[2], "slope", 1, false)};
  }

  // conv: inputs (x[, residual]); ints stride_h, stride_w, pad t, b, l, r, dilation_h,
  // dilation_w, groups, activation; tensors weight (K, C/g, R, S), bias (K) or -1, slope or -1.
  int conv(const NodeRecord& n) {
    expect(n, 1, 2, 10, 0, 3);
    const int64_t sh = attr(n, 0, "stride_h", 1), sw = attr(n, 1, "stride_w", 1);
    std::vector<int64_t> pad = {attr(n, 2, "padding top", 0), attr(n, 3, "padding bottom", 0),
                                attr(n, 4, "padding left", 0), attr(n, 5, "padding right", 0)};
    const int64_t dh = attr(n, 6, "dilation_h", 1), dw = attr(n, 7, "dilation_w", 1);
    const int64_t groups = attr(n, 8, "groups", 1);
    const Activation a = act(n.ints[9], true);
    const TensorEntry& w = weight4(n);
    // autotune runs the convolution at build time on images of the input's and output's
    // size: bound the output before add_conv allocates it.
    bound_conv_output(n.inputs[0], w.shape, sh, sw, pad, dh, dw, groups);
    ConvTensors t = conv_tensors(n);
    const int residual = n.inputs.size() > 1 ? n.inputs[1] : -1;
    return plan_.add_conv(n.inputs[0], std::move(t.weight), w.shape, t.bias, sh, sw, pad, dh, dw, groups, a, residual,
                          std::move(t.slope));
  }

  // Fails when a convolution of these sizes on the buffer `input` would write more than the
  // loader's limit (checked before add_* allocates or packs anything for it).
  void bound_conv_output(int input, const std::vector<int64_t>& wshape, int64_t sh, int64_t sw,
                         const std::vector<int64_t>& pad, int64_t dh, int64_t dw, int64_t groups) const {
    const auto& in = plan_.buffer_shape(input);
    if (in.size() != 4 || wshape.size() != 4) return;
    ConvParams p;
    p.N = std::max<int64_t>(in[0], 1); p.C = in[1]; p.H = in[2]; p.W = in[3];
    p.K = wshape[0]; p.R = wshape[2]; p.S = wshape[3];
    p.stride_h = sh; p.stride_w = sw; p.dilation_h = dh; p.dilation_w = dw;
    p.pad_top = pad[0]; p.pad_bottom = pad[1]; p.pad_left = pad[2]; p.pad_right = pad[3];
    p.groups = groups;
    if (checked_mul(wshape[1], groups) != p.C) return;  // add_* names the mismatch
    p.validate();
    if (checked_mul(p.output_numel(), 4) > g_max_buffer_bytes)
      node_fail(concat("its output of ", p.output_numel(), " values is larger than the loader's limit of ",
                       g_max_buffer_bytes, " bytes"));
  }

  // conv_int8: inputs (x[, residual]); ints in_zero, stride h, w, pad t, b, l, r, dilation h,
  // w, groups, activation (add_conv_int8 takes those of its output stage), res_zero, out_u8,
  // out_zero; reals
  // in_scale, res_scale, out_scale; tensors weight int8 (K, C/g, R, S), mult (K), bias (K).
  int conv_int8(const NodeRecord& n) {
    expect(n, 1, 2, 14, 3, 3);
    const Plan::QParams in = qparams(n, 0, 0, "input ");
    const int64_t sh = attr(n, 1, "stride_h", 1), sw = attr(n, 2, "stride_w", 1);
    std::vector<int64_t> pad = {attr(n, 3, "padding top", 0), attr(n, 4, "padding bottom", 0),
                                attr(n, 5, "padding left", 0), attr(n, 6, "padding right", 0)};
    const int64_t dh = attr(n, 7, "dilation_h", 1), dw = attr(n, 8, "dilation_w", 1);
    const int64_t groups = attr(n, 9, "groups", 1);
    const Activation a = act(n.ints[10], false);
    const bool residual = n.inputs.size() > 1;
    const Plan::QParams res = residual ? qparams(n, 1, 11, "residual ") : Plan::QParams{};
    const bool out_u8 = flag(n, 12, "out_u8");
    const Plan::QParams out = out_u8 ? qparams(n, 2, 13, "output ") : Plan::QParams{};
    std::vector<int64_t> wshape;
    std::vector<int8_t> weight = int8s(n.tensors[0], 4, &wshape);
    bound_conv_output(n.inputs[0], wshape, sh, sw, pad, dh, dw, groups);
    std::vector<float> mult = floats(n.tensors[1], "mult", 1, true), bias = floats(n.tensors[2], "bias", 1, true);
    return plan_.add_conv_int8(n.inputs[0], in, std::move(weight), wshape, mult, bias, sh, sw, pad, dh, dw, groups, a,
                               residual ? n.inputs[1] : -1, res, out_u8, out);
  }

  // linear_int8: ints in_zero, activation, out_u8, out_zero; reals in_scale, out_scale;
  // tensors weight int8 (out, in), mult (out), bias (out).
  int linear_int8(const NodeRecord& n) {
    expect(n, 1, 1, 4, 2, 3);
    const Plan::QParams in = qparams(n, 0, 0, "input ");
    const Activation a = act(n.ints[1], false);
    const bool out_u8 = flag(n, 2, "out_u8");
    const Plan::QParams out = out_u8 ? qparams(n, 1, 3, "output ") : Plan::QParams{};
    std::vector<int64_t> wshape;
    std::vector<int8_t> weight = int8s(n.tensors[0], 2, &wshape);
    std::vector<float> mult = floats(n.tensors[1], "mult", 1, true), bias = floats(n.tensors[2], "bias", 1, true);
    return plan_.add_linear_int8(n.inputs[0], in, std::move(weight), wshape[0], wshape[1], mult, bias, a, out_u8, out);
  }

  // max_pool_u8: ints kh, kw, sh, sw, pad t, b, l, r, dh, dw, ceil_mode, zero, out_u8;
  // avg_pool_u8: ints kh, kw, sh, sw, pad t, b, l, r, ceil_mode, count_include_pad, zero,
  // out_u8; reals scale (the input's, kept by a uint8 output).
  int pool_u8(const NodeRecord& n) {
    const bool is_max = FileOp(n.op) == FileOp::max_pool_u8;
    expect(n, 1, 1, is_max ? 13 : 12, 1, 0);
    const engine::PoolWindow w = pool_window(n, is_max);
    const int64_t q = is_max ? 11 : 10;  // zero point, then out_u8
    return is_max ? plan_.add_max_pool_u8(n.inputs[0], w, qparams(n, 0, q, ""), flag(n, q + 1, "out_u8"))
                  : plan_.add_avg_pool_u8(n.inputs[0], w, qparams(n, 0, q, ""), flag(n, q + 1, "out_u8"));
  }

  // conv_transpose: ints stride h, w, padding h, w, output_padding h, w, dilation h, w,
  // groups, activation; tensors weight (C_in, C_out/g, kH, kW), bias or -1, slope or -1.
  int conv_transpose(const NodeRecord& n) {
    expect(n, 1, 1, 10, 0, 3);
    const int64_t sh = attr(n, 0, "stride_h", 1), sw = attr(n, 1, "stride_w", 1);
    const int64_t ph = attr(n, 2, "padding_h", 0), pw = attr(n, 3, "padding_w", 0);
    const int64_t oph = attr(n, 4, "output_padding_h", 0), opw = attr(n, 5, "output_padding_w", 0);
    const int64_t dh = attr(n, 6, "dilation_h", 1), dw = attr(n, 7, "dilation_w", 1);
    const int64_t groups = attr(n, 8, "groups", 1);
    const Activation a = act(n.ints[9], true);
    const TensorEntry& w = weight4(n);
    ConvTensors t = conv_tensors(n);
    return plan_.add_conv_transpose(n.inputs[0], std::move(t.weight), w.shape, t.bias, sh, sw, ph, pw, oph, opw, dh, dw,
                                    groups, a, std::move(t.slope));
  }

  // The window of a pool node (float or uint8): ints kh, kw, sh, sw, pad t, b, l, r, then
  // dh, dw, ceil_mode (max) or ceil_mode, count_include_pad (avg).
  engine::PoolWindow pool_window(const NodeRecord& n, bool is_max) const {
    engine::PoolWindow w;
    w.kh = attr(n, 0, "kernel_h", 1); w.kw = attr(n, 1, "kernel_w", 1);
    w.sh = attr(n, 2, "stride_h", 1); w.sw = attr(n, 3, "stride_w", 1);
    w.pad_top = attr(n, 4, "padding top", 0); w.pad_bottom = attr(n, 5, "padding bottom", 0);
    w.pad_left = attr(n, 6, "padding left", 0); w.pad_right = attr(n, 7, "padding right", 0);
    if (is_max) {
      w.dh = attr(n, 8, "dilation_h", 1); w.dw = attr(n, 9, "dilation_w", 1);
      w.ceil_mode = flag(n, 10, "ceil_mode");
    } else {
      w.ceil_mode = flag(n, 8, "ceil_mode");
      w.count_include_pad = flag(n, 9, "count_include_pad");
    }
    return w;
  }

  // max_pool: ints kh, kw, sh, sw, pad t, b, l, r, dh, dw, ceil_mode.
  // avg_pool: ints kh, kw, sh, sw, pad t, b, l, r, ceil_mode, count_include_pad.
  int pool(const NodeRecord& n) {
    const bool is_max = FileOp(n.op) == FileOp::max_pool;
    expect(n, 1, 1, is_max ? 11 : 10, 0, 0);
    const engine::PoolWindow w = pool_window(n, is_max);
    return is_max ? plan_.add_max_pool(n.inputs[0], w) : plan_.add_avg_pool(n.inputs[0], w);
  }

  // linear: ints activation; tensors weight (out, in), bias or -1, slope or -1.
  int linear(const NodeRecord& n) {
    expect(n, 1, 1, 1, 0, 3);
    const Activation a = act(n.ints[0], true);
    const TensorEntry& w = tensor(n.tensors[0], "weight");
    if (w.shape.size() != 2) node_fail(concat("weight '", w.name, "' has shape ", shape_str(w.shape), ", expected 2-D"));
    std::vector<float> weight = floats(n.tensors[0], "weight", 2, true);
    std::vector<float> bias = floats(n.tensors[1], "bias", 1, false);
    std::vector<float> slope = floats(n.tensors[2], "slope", 1, false);
    return plan_.add_linear(n.inputs[0], std::move(weight), w.shape[0], w.shape[1], bias, a, std::move(slope));
  }

  // interpolate: ints out_h, out_w, mode (0 nearest, 1 nearest-exact, 2 linear),
  // align_corners; reals scale_h, scale_w (PyTorch's scale_factor, 0 = follow the sizes).
  int interpolate(const NodeRecord& n) {
    expect(n, 1, 1, 4, 2, 0);
    const int64_t oh = attr(n, 0, "out_h", 1), ow = attr(n, 1, "out_w", 1);
    engine::InterpSpec spec;
    spec.mode = engine::InterpMode(attr(n, 2, "mode", 0, 2));
    spec.align_corners = flag(n, 3, "align_corners");
    for (int i = 0; i < 2; ++i) {
      const double s = n.reals[size_t(i)];
      if (!std::isfinite(s) || s < 0.0 || s > double(kMaxAttr))
        node_fail(concat(i ? "scale_w" : "scale_h", " is ", s, "; it must be finite, in [0, ", kMaxAttr, "]"));
    }
    spec.scale_h = n.reals[0];
    spec.scale_w = n.reals[1];
    const auto& in = plan_.buffer_shape(n.inputs[0]);
    if (in.size() == 4 && checked_mul(checked_mul(checked_mul(checked_mul(in[0], in[1]), oh), ow), 4) > g_max_buffer_bytes)
      node_fail(concat("its output ", in[0], "x", in[1], "x", oh, "x", ow, " is larger than the loader's limit of ",
                       g_max_buffer_bytes, " bytes"));
    return plan_.add_interpolate(n.inputs[0], oh, ow, spec);
  }

  const uint8_t* base_;
  std::vector<TensorEntry> tensors_;
  Plan& plan_;
  const PageRelease& release_;
  int64_t index_ = -1;
  const char* name_ = "";
};

struct SectionEntry {
  uint32_t type = 0;
  int64_t offset = 0, size = 0;
};

// Tensor table: u32 count, u32 reserved; per tensor: name, u32 dtype, shape, u64 offset
// (from the data section's start, a multiple of 64), u64 byte size.
std::vector<TensorEntry> read_tensors(Reader& r, const SectionEntry& data) {
  const int64_t count = r.count("tensor count", 4 + 4 + 4 + 16, int64_t(1) << 24);
  if (r.u32("tensor table reserved field") != 0) fail("tensors section: reserved field is not 0");
  std::vector<TensorEntry> t(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) {
    TensorEntry& e = t[size_t(i)];
    const std::string what = concat("tensor ", i);
    e.name = r.str(what + " name", kMaxName);
    e.dtype = r.u32(what + " dtype");
    if (!dtype_name(e.dtype)) fail(concat(what, " ('", e.name, "'): unknown dtype code ", e.dtype));
    e.shape = read_shape(r, what + " shape");
    e.numel = 1;
    for (int64_t d : e.shape) e.numel = checked_mul(e.numel, d, "tensor size");
    const uint64_t off = r.u64(what + " offset"), bytes = r.u64(what + " byte size");
    if (off > uint64_t(data.size) || bytes > uint64_t(data.size) - off)
      fail(concat(what, " ('", e.name, "'): bytes [", off, ", ", off, " + ", bytes, ") lie outside the data section of ",
                  data.size, " bytes"));
    if (off % uint64_t(kDataAlignment) != 0)
      fail(concat(what, " ('", e.name, "'): offset ", off, " is not a multiple of ", kDataAlignment));
    e.nbytes = int64_t(bytes);
    e.offset = data.offset + int64_t(off);
    const int64_t want = checked_mul(e.numel, dtype_bytes(e.dtype), "tensor bytes");
    if (e.nbytes != want)
      fail(concat(what, " ('", e.name, "'): ", dtype_name(e.dtype), " ", shape_str(e.shape), " needs ", want,
                  " bytes, the table says ", e.nbytes));
  }
  return t;
}

NodeRecord read_node(Reader& r, int64_t index) {
  const std::string what = concat("node ", index);
  NodeRecord n;
  n.op = r.u32(what + " op");
  if (!op_file_name(n.op)) fail(concat(what, ": unknown op kind ", n.op, " (this reader knows 1..18)"));
  const int64_t ni = r.count(what + " input count", 4, int64_t(1) << 20);
  for (int64_t i = 0; i < ni; ++i) n.inputs.push_back(r.i32(concat(what, " input ", i)));
  const int64_t nk = r.count(what + " integer attribute count", 8, 64);
  for (int64_t i = 0; i < nk; ++i) n.ints.push_back(r.i64(concat(what, " integer attribute ", i)));
  const int64_t nr = r.count(what + " real attribute count", 8, 64);
  for (int64_t i = 0; i < nr; ++i) n.reals.push_back(r.f64(concat(what, " real attribute ", i)));
  const int64_t nt = r.count(what + " tensor count", 4, 64);
  for (int64_t i = 0; i < nt; ++i) n.tensors.push_back(r.i32(concat(what, " tensor ", i)));
  n.output = r.i32(what + " output buffer");
  return n;
}

LoadedPlan load(const uint8_t* p, int64_t size, const PageRelease& release) {
  if (size < kHeaderBytes) fail(concat("the file has ", size, " bytes, fewer than the ", kHeaderBytes, "-byte header"));
  if (std::memcmp(p, kMagic, sizeof kMagic) != 0) fail("not a cnnnative plan file (the magic bytes are not \"CNNPLAN\\0\")");
  Reader h(p, 8, kHeaderBytes, "header");
  const uint32_t major = uint32_t(h.u(2, "major version")), minor = uint32_t(h.u(2, "minor version"));
  if (major > kFormatMajor)
    fail(concat("format version ", major, ".", minor, " is newer than this reader (", kFormatMajor, ".", kFormatMinor,
                "); load it with a newer cnnnative"));
  if (major < 1) fail(concat("format version ", major, ".", minor, " is not a released version"));
  const uint32_t flags = h.u32("flags");
  if (flags != 0) fail(concat("header flags 0x", std::hex, flags, std::dec, " has bits this reader does not know"));
  const uint64_t file_size = h.u64("file size");
  if (file_size != uint64_t(size))
    fail(concat("the header says the file has ", file_size, " bytes, but it has ", size,
                file_size > uint64_t(size) ? " (truncated)" : " (trailing bytes)"));
  const uint32_t header_size = h.u32("header size");
  if (header_size != kHeaderBytes) fail(concat("header size ", header_size, ", expected ", kHeaderBytes));
  const int64_t nsec = h.u32("section count");
  const uint64_t table = h.u64("section table offset");
  const uint32_t stored_crc = h.u32("checksum");
  uint32_t crc = 0;
  constexpr int64_t kChunk = int64_t(4) << 20;
  for (int64_t at = kHeaderBytes; at < size; at += kChunk) {
    const int64_t n = std::min(kChunk, size - at);
    crc = crc32(p + at, size_t(n), crc);
    release(at, n);
  }
  if (crc != stored_crc)
    fail(concat("checksum mismatch: the header says CRC-32 0x", std::hex, stored_crc, ", the contents give 0x", crc,
                std::dec, " (the file is corrupt)"));
  if (nsec < 4 || nsec > kMaxSections) fail(concat("section count ", nsec, " is not in [4, ", kMaxSections, "]"));
  if (table < uint64_t(kHeaderBytes) || table > uint64_t(size) ||
      uint64_t(nsec * kSectionEntryBytes) > uint64_t(size) - table)
    fail(concat("the section table at offset ", table, " (", nsec, " entries of ", kSectionEntryBytes,
                " bytes) lies outside the file of ", size, " bytes"));
  const int64_t table_end = int64_t(table) + nsec * kSectionEntryBytes;

  Reader t(p, int64_t(table), table_end, "section table");
  std::vector<SectionEntry> sections;
  SectionEntry found[5];
  bool have[5] = {false, false, false, false, false};
  for (int64_t i = 0; i < nsec; ++i) {
    SectionEntry s;
    const std::string what = concat("section ", i);
    s.type = t.u32(what + " type");
    if (t.u32(what + " flags") != 0) fail(concat(what, ": flags are not 0"));
    const uint64_t off = t.u64(what + " offset"), sz = t.u64(what + " size");
    (void)t.u64(what + " reserved");
    if (off < uint64_t(table_end) || off > uint64_t(size) || sz > uint64_t(size) - off)
      fail(concat(what, " (type ", s.type, "): bytes [", off, ", ", off, " + ", sz, ") lie outside [", table_end, ", ",
                  size, ")"));
    s.offset = int64_t(off);
    s.size = int64_t(sz);
    if (s.type >= 1 && s.type <= 4) {
      if (have[s.type]) fail(concat(what, ": a second section of type ", s.type));
      have[s.type] = true;
      found[s.type] = s;
    }  // unknown types (a later minor version's) are skipped
    sections.push_back(s);
  }
  for (uint32_t k = 1; k <= 4; ++k)
    if (!have[k]) fail(concat("the required section of type ", k, " (",
                              k == 1 ? "meta" : k == 2 ? "tensors" : k == 3 ? "graph" : "data", ") is missing"));
  std::sort(sections.begin(), sections.end(), [](const SectionEntry& a, const SectionEntry& b) {
    return a.offset < b.offset;
  });
  for (size_t i = 1; i < sections.size(); ++i)
    if (sections[i].offset < sections[i - 1].offset + sections[i - 1].size)
      fail(concat("sections at offsets ", sections[i - 1].offset, " and ", sections[i].offset, " overlap"));
  const SectionEntry& data = found[uint32_t(Section::data)];
  if (data.offset % kDataAlignment != 0)
    fail(concat("the data section starts at offset ", data.offset, ", not a multiple of ", kDataAlignment));

  // meta: u32 conv choice, u32 input count (1), u32 output count (1), u32 precision, then
  // the input and the output (name, shape).
  const SectionEntry& ms = found[uint32_t(Section::meta)];
  Reader m(p, ms.offset, ms.offset + ms.size, "meta");
  const uint32_t choice = m.u32("conv choice");
  if (choice > uint32_t(FileConvChoice::autotune)) fail(concat("meta: conv choice ", choice, " is unknown (0..2)"));
  const uint32_t n_in = m.u32("input count"), n_out = m.u32("output count");
  if (n_in != 1 || n_out != 1)
    fail(concat("meta: ", n_in, " inputs and ", n_out, " outputs; this reader takes one of each"));
  const uint32_t precision = m.u32("precision");
  if (precision > uint32_t(FilePrecision::bf16))
    fail(concat("meta: precision ", precision, " is unknown (0 float32, 1 bf16)"));
  IoEntry in = read_io(m, "input");
  IoEntry out = read_io(m, "output");

  const SectionEntry& ts = found[uint32_t(Section::tensors)];
  Reader tr(p, ts.offset, ts.offset + ts.size, "tensors");
  std::vector<TensorEntry> tensors = read_tensors(tr, data);

  // graph: the plan's input shape, the output buffer, u32 node count, the nodes.
  const SectionEntry& gs = found[uint32_t(Section::graph)];
  Reader g(p, gs.offset, gs.offset + gs.size, "graph");
  std::vector<int64_t> plan_in = read_shape(g, "plan input shape");
  if (plan_in.size() != 2 && plan_in.size() != 4)
    fail(concat("graph: plan input shape ", shape_str(plan_in), " must be (N, C, H, W) or (N, F)"));
  const int output_buffer = g.i32("output buffer");
  const int64_t count = g.count("node count", 4 * 6, kMaxNodes);

  // The caller's input is the plan's input buffer: the same batch and sample size.
  auto per_sample = [](const std::vector<int64_t>& s) {
    int64_t n = 1;
    for (size_t i = 1; i < s.size(); ++i) n = checked_mul(n, s[i], "sample size");
    return n;
  };
  if (in.shape[0] != plan_in[0] || per_sample(in.shape) != per_sample(plan_in))
    fail(concat("the input '", in.name, "' ", shape_str(in.shape), " does not match the plan's input ",
                shape_str(plan_in)));
  if (checked_mul(checked_mul(plan_in[0], per_sample(plan_in)), 4) > g_max_buffer_bytes)
    fail(concat("the plan input ", shape_str(plan_in), " is larger than the loader's limit of ", g_max_buffer_bytes,
                " bytes"));

  LoadedPlan result;
  const engine::ConvChoice cc = choice == 0 ? engine::ConvChoice::heuristic
                                : choice == 1              ? engine::ConvChoice::gemm
                                : g_autotune_allowed       ? engine::ConvChoice::autotune
                                                           : engine::ConvChoice::heuristic;
  try {
    result.plan = std::make_unique<Plan>(plan_in, cc);
    result.plan->set_precision(precision == uint32_t(FilePrecision::bf16) ? engine::Precision::bf16
                                                                          : engine::Precision::fp32);
  } catch (const std::exception& e) {
    fail(concat("graph: plan input shape ", shape_str(plan_in), ": ", e.what()));
  }
  Builder b(p, std::move(tensors), *result.plan, release);
  for (int64_t i = 0; i < count; ++i) {
    NodeRecord n = read_node(g, i);
    try {
      b.add(n, i);
    } catch (const std::invalid_argument& e) {
      const std::string msg = e.what();
      if (msg.rfind("plan file: ", 0) == 0) throw;
      fail(concat("node ", i, " (", op_file_name(n.op), "): ", msg));
    } catch (const std::bad_alloc&) {
      fail(concat("node ", i, " (", op_file_name(n.op), "): out of memory building it"));
    } catch (const std::exception& e) {
      fail(concat("node ", i, " (", op_file_name(n.op), "): ", e.what()));
    }
  }
  if (g.remaining() != 0) fail(concat("graph: ", g.remaining(), " bytes after the last node"));
  const int buffers = int(result.plan->buffers().size());
  if (output_buffer < 1 || output_buffer >= buffers)
    fail(concat("graph: output buffer ", output_buffer, " does not exist (the plan has ", buffers, " buffers; 0 is the input)"));
  try {
    result.plan->finalize(output_buffer);
  } catch (const std::exception& e) {
    fail(concat("graph: finalize: ", e.what()));
  }
  if (result.plan->arena_bytes() > g_max_buffer_bytes * 4)
    fail(concat("the plan's arena needs ", result.plan->arena_bytes(), " bytes, more than the loader's limit of ",
                g_max_buffer_bytes * 4));
  const auto& plan_out = result.plan->buffer_shape(output_buffer);
  if (out.shape[0] != plan_out[0] || per_sample(out.shape) != per_sample(plan_out))
    fail(concat("the output '", out.name, "' ", shape_str(out.shape), " does not match the plan's output ",
                shape_str(plan_out)));
  result.input = TensorSpec{std::move(in.name), std::move(in.shape)};
  result.output = TensorSpec{std::move(out.name), std::move(out.shape)};
  return result;
}

}  // namespace

void set_max_buffer_bytes(int64_t bytes) { g_max_buffer_bytes = bytes; }
int64_t max_buffer_bytes() { return g_max_buffer_bytes; }
void set_autotune_allowed(bool allowed) { g_autotune_allowed = allowed; }

LoadedPlan load_from_memory(const void* data, size_t size) {
  if (data == nullptr && size != 0) throw std::invalid_argument("plan file: data is NULL but size is not 0");
  if (size > size_t(INT64_MAX)) throw std::invalid_argument("plan file: size does not fit int64");
  static const uint8_t empty = 0;
  const uint8_t* p = data ? static_cast<const uint8_t*>(data) : &empty;
  try {
    return load(p, int64_t(size), PageRelease{});
  } catch (const std::invalid_argument&) {
    throw;
  } catch (const std::bad_alloc&) {
    throw std::invalid_argument("plan file: out of memory while loading");
  } catch (const std::exception& e) {
    throw std::invalid_argument(std::string("plan file: ") + e.what());
  }
}

LoadedPlan load_from_file(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw std::invalid_argument("plan file: cannot open '" + path + "': " + std::strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    throw std::invalid_argument("plan file: cannot read '" + path + "': not a regular file");
  }
  const size_t size = size_t(st.st_size);
  void* map = size ? mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0) : nullptr;
  close(fd);
  if (map == MAP_FAILED) throw std::invalid_argument("plan file: cannot map '" + path + "': " + std::strerror(errno));
  struct Unmap {
    void* p;
    size_t n;
    ~Unmap() {
      if (p) munmap(p, n);
    }
  } unmap{map, size};
  // The file is read front to back once (checksum), then each tensor once.
  if (map) madvise(map, size, MADV_SEQUENTIAL);
  try {
    PageRelease release{static_cast<const uint8_t*>(map)};
    static const uint8_t empty = 0;
    return load(map ? static_cast<const uint8_t*>(map) : &empty, int64_t(size), release);
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(std::string(e.what()) + " ('" + path + "')");
  } catch (const std::bad_alloc&) {
    throw std::invalid_argument("plan file: out of memory while loading '" + path + "'");
  } catch (const std::exception& e) {
    throw std::invalid_argument(std::string("plan file: ") + e.what() + " ('" + path + "')");
  }
}

}  // namespace cnnnative::planfile
