// The inference engine: a network compiled once into a Plan, then run many times.
//
// A Plan is a list of nodes, each reading and writing buffers named by integer ids.
// Buffer 0 is the caller's input. Nodes are appended in execution order; every add_*
// call infers the new buffer's shape (and throws ValueError naming the node and sizes
// when the input does not fit). finalize() names the output buffer and plans memory:
// every intermediate buffer (and each node's scratch) gets an offset in ONE arena,
// assigned by lifetime so that buffers that are never live at the same time share
// bytes (see engine/arena_planner.h). run() then executes all nodes without allocating.
//
// Weights are copied into the plan at build time and transformed for the kernel that
// will run them (BatchNorm is folded by the Python side before the conv is added).
// Convolutions carry a fused epilogue: + bias, + an optional residual buffer, then
// an activation (relu, relu6, silu, hardswish, gelu, gelu_tanh, sigmoid, prelu), applied to
// each output tile right after the GEMM writes it, while it is in cache.
//
// Concurrency: run() is const and reentrant. Each call borrows an arena from a small
// pool (creating one when all are busy, which is then kept), so several threads may
// run the same plan at once; steady state allocates nothing.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "cnnnative/conv_params.h"

namespace cnnnative {
struct WinogradWeights;  // cnnnative/winograd.h
struct Bf16Weights;      // src/gemm/sbgemm.h
class PrepackedB;        // src/gemm/prepacked.h

namespace engine {
struct QuantNode;        // src/engine/int8_nodes.h
}

namespace engine {

// The same values as cnnnative::Activation (winograd.h), which the conv kernels take.
enum class Activation { none = 0, relu = 1, relu6 = 2, silu = 3, hardswish = 4, gelu = 5, gelu_tanh = 6,
                        sigmoid = 7, prelu = 8, hardsigmoid = 9 };

enum class OpKind {
  conv,
  max_pool,
  avg_pool,
  global_avg_pool,
  linear,
  add,
  concat,
  flatten,
  softmax,
  channel_affine,  // y[n,c,...] = x * scale[c] + shift[c] (a BatchNorm that could not be folded)
  activation,
  channel_scale,  // y[n,c,...] = x[n,c,...] * s[n,c] (squeeze-and-excitation); in place when it can
  conv_transpose,  // transposed convolution (+ bias, activation): the input gradient of `conv`
  interpolate,      // nearest / nearest-exact / (bi)linear resampling of the H and W axes
  pixel_shuffle,    // (N, C r r, H, W) -> (N, C, H r, W r)
  pixel_unshuffle,  // (N, C, H r, W r) -> (N, C r r, H, W)
  channel_shuffle,  // channel j*(C/g) + i moves to i*g + j
  channel_slice,    // y = x[:, start:start + count] (channels; ShuffleNet-v2's split)
  // int8 inference (engine/int8_nodes.h): uint8 buffers hold q with x = scale * (q - zero).
  quantize,            // float32 -> uint8
  dequantize,          // uint8 -> float32
  conv_int8,           // uint8 image, int8 weights, int32 sums; requantized epilogue -> uint8 or float32
  linear_int8,         // the same for (N, in) -> (N, out)
  max_pool_u8,         // on uint8 values (exact), out uint8 or float32
  avg_pool_u8,         // mean of uint8 values, rounded (uint8 out) or not (float32 out)
  global_avg_pool_u8,  // (N, C, H, W) -> (N, C, 1, 1) likewise
  concat_u8,           // uint8 inputs, each mapped to the output's scale by a 256-entry table
};
const char* op_name(OpKind k);

// How a convolution node computes; chosen once at build time.
enum class ConvMethod {
  gemm_1x1,    // 1x1, stride 1, no padding: the input image already is the GEMM's B matrix
  im2col_gemm, // unfold the image into a (C/g*R*S) x (OH*OW) matrix, then GEMM per group
  depthwise,   // groups == C == K: direct loops per channel
  winograd,    // 3x3 stride 1: Winograd F(m x m, 3x3) on filters transformed at build time
  direct_smallc,  // few input channels or strided (ResNet stem): direct, weights packed at build
  direct_smallc_wino,  // the same with a 1-D Winograd F(2,4) along the width (the stem on AVX-512)
  gemm_prepacked,  // small images, many channels: pixels x channels = unfold^T * W^T with W^T
                   // packed once at build time into the GEMM microkernel's panels
  winograd1d,  // conv1d 3-tap (height-1, 1x3, stride 1, any dilation): 1-D Winograd F(m, 3)
               // on filters transformed at build time (conv/winograd1d.h)
};

// How build time picks the method of each convolution.
enum class ConvChoice {
  heuristic,  // Winograd for 3x3 stride-1 convs with enough channels, else GEMM-based
  gemm,       // never Winograd (closest to a direct convolution's rounding)
  autotune,   // time every candidate once on this shape and keep the fastest
};
const char* conv_method_name(ConvMethod m);

// The arithmetic of a plan's GEMM layers (set before nodes are added). bf16: convolutions
// other than depthwise and linear layers multiply bf16 inputs and weights with fp32
// accumulation (engine/bf16_node.cc); everything else, and every output, stays fp32.
enum class Precision { fp32, bf16 };

// interpolate's sampling rule (the same values as cnnnative::ResampleMode).
enum class InterpMode { nearest = 0, nearest_exact = 1, linear = 2 };

// interpolate's arguments: the mode, align_corners (linear only) and PyTorch's scale_factor
// of the H and W axes (0: the sampling follows the sizes).
struct InterpSpec {
  InterpMode mode = InterpMode::nearest;
  bool align_corners = false;
  double scale_h = 0.0, scale_w = 0.0;
};

struct PoolWindow {
  int64_t kh = 1, kw = 1, sh = 1, sw = 1;
  int64_t pad_top = 0, pad_bottom = 0, pad_left = 0, pad_right = 0;
  int64_t dh = 1, dw = 1;  // dilation (max pool only)
  bool ceil_mode = false;
  bool count_include_pad = true;  // avg pool only
};

struct Node {
  OpKind kind{};
  std::vector<int> inputs;  // buffer ids; for conv the residual (if any) is inputs[1]
  int output = -1;
  std::vector<int64_t> in_shape, out_shape;  // of inputs[0] and output, planned batch first
  Activation act = Activation::none;
  // conv
  ConvParams conv;  // N is the planned batch; run() sets the actual one
  ConvMethod method = ConvMethod::im2col_gemm;
  int64_t tile_m = 0, tile_n = 0;  // GEMM tile of the output image (rows = channels)
  int winograd_tile = 0;           // m of F(m x m, 3x3) when method == winograd
  std::shared_ptr<const WinogradWeights> winograd_weights;  // transformed once
  // gemm_prepacked: W^T of each group packed for the ISA active at build time, replacing
  // `weight` (another ISA at run time runs im2col_gemm / gemm_1x1 on weights unpacked
  // from it), and its tiling: pixels per block, output channels per chunk (whole NR panels).
  std::shared_ptr<const std::vector<PrepackedB>> prepacked;
  int64_t prepacked_block = 0, prepacked_chunk = 0;
  // conv_transpose: `conv` is the convolution whose input gradient this node computes
  // (its input image is this node's output; its K is this node's input channels), and
  // the zero rows/columns that convolution's output has beyond the node's input (an
  // output_padding >= stride, allowed below the dilation).
  int64_t extra_rows = 0, extra_cols = 0;
  // and, where it decomposes into sub-pixel phases (conv/conv_transpose_subpixel.h), the
  // stacked 3x3 convolution's Winograd weights, transformed once at plan time.
  std::shared_ptr<const WinogradWeights> subpixel_winograd;
  // linear
  int64_t in_features = 0, out_features = 0;
  // pools
  PoolWindow pool;
  // interpolate; pixel_shuffle / pixel_unshuffle's factor r, channel_shuffle's groups,
  // channel_slice's first channel
  InterpSpec interp;
  int64_t factor = 1;
  // parameters owned by the plan (weights, bias / scale, shift)
  std::vector<float> weight, bias;
  // prelu's slopes: 1 (shared) or one per output channel / feature
  std::vector<float> act_slope;
  // int8 nodes: their quantization parameters and int8 weights
  std::shared_ptr<const QuantNode> quant;
  // scratch this node needs (bytes, for the planned batch and thread count)
  int64_t scratch_bytes = 0;
  int64_t scratch_offset = -1;  // in the arena
  // bf16 conv / linear (Precision::bf16): the weights rounded and packed once per group,
  // replacing `weight`; a conv's pixels per work item and output channels per chunk.
  std::shared_ptr<const Bf16Weights> bf16_weights;
  int64_t bf16_block = 0, bf16_chunk = 0;
};

struct BufferInfo {
  std::vector<int64_t> shape;  // shape[0] is the planned batch
  int64_t offset = -1;         // in the arena; -1 for the external input/output
  int first = -1, last = -1;   // node indices that define / last read it (-1 = input)
  int64_t elem_bytes = 4;      // 4: float32; 1: uint8 (int8 nodes)
  int concat_root = -1;        // batch-1 plans: the concat output this buffer is a slice of
                               // (a part, or an earlier concat of a chain: concat_in_place.cc)
  int64_t bytes() const;
  int64_t per_sample() const;  // elements per batch item
};

class Plan {
 public:
  // input_shape: (N, C, H, W) or (N, F); N may be 0 only if the plan will never run
  // a non-empty batch.
  explicit Plan(std::vector<int64_t> input_shape, ConvChoice choice = ConvChoice::heuristic);
  ~Plan();
  Plan(const Plan&) = delete;
  Plan& operator=(const Plan&) = delete;

  // Each add_* returns the id of the buffer it writes.
  // weight: (K, C/groups, R, S) OIHW; bias: K values or empty; residual: a buffer of the
  // output's shape added before the activation, or -1. act_slope: prelu's slopes (1 shared
  // or one per output channel), empty for every other activation. Other nodes take any
  // activation but prelu.
  // Weights are taken by value and moved into the node: pass an rvalue to avoid a copy
  // (compile-time peak memory: ResNet-18's largest layer is 9 MB).
  int add_conv(int input, std::vector<float> weight, const std::vector<int64_t>& weight_shape,
               const std::vector<float>& bias, int64_t stride_h, int64_t stride_w,
               const std::vector<int64_t>& padding /*t,b,l,r*/, int64_t dilation_h,
               int64_t dilation_w, int64_t groups, Activation act, int residual,
               std::vector<float> act_slope = {});
  // Transposed convolution (torch's conv_transpose2d): weight (C_in, C_out/groups, kH, kW)
  // as torch lays it out; bias C_out values or empty; padding and output_padding per
  // axis (h, w). Runs as conv2d's input gradient, then bias and activation per plane.
  int add_conv_transpose(int input, std::vector<float> weight, const std::vector<int64_t>& weight_shape,
                         const std::vector<float>& bias, int64_t stride_h, int64_t stride_w, int64_t padding_h,
                         int64_t padding_w, int64_t output_padding_h, int64_t output_padding_w,
                         int64_t dilation_h, int64_t dilation_w, int64_t groups, Activation act,
                         std::vector<float> act_slope = {});
  int add_max_pool(int input, const PoolWindow& w);
  int add_avg_pool(int input, const PoolWindow& w);
  int add_global_avg_pool(int input);  // (N,C,H,W) -> (N,C,1,1)
  // weight: (out, in); input is (N, in) or any (N, ...) with `in` elements per sample.
  int add_linear(int input, std::vector<float> weight, int64_t out_features,
                 int64_t in_features, const std::vector<float>& bias, Activation act,
                 std::vector<float> act_slope = {});
  int add_add(int a, int b, Activation act);
  int add_concat(const std::vector<int>& inputs);  // along channels (dim 1)
  int add_flatten(int input);                      // (N, ...) -> (N, prod(...))
  int add_softmax(int input);                      // over dim 1 of (N, F)
  int add_channel_affine(int input, const std::vector<float>& scale, const std::vector<float>& shift,
                         Activation act);
  int add_activation(int input, Activation act);
  // input (N, C, ...) times scale (N, C) or (N, C, 1, ...): written over the input's buffer
  // when this node is its last reader (see finalize).
  int add_channel_scale(int input, int scale);
  // Resampling and channel layout of (N, C, H, W) buffers (see src/resample): interpolate to
  // (N, C, out_h, out_w); pixel_(un)shuffle by factor r; channel_shuffle in `groups` groups.
  int add_interpolate(int input, int64_t out_h, int64_t out_w, const InterpSpec& spec);
  int add_pixel_shuffle(int input, int64_t upscale_factor);
  int add_pixel_unshuffle(int input, int64_t downscale_factor);
  int add_channel_shuffle(int input, int64_t groups);
  int add_channel_slice(int input, int64_t start, int64_t count);  // channels [start, start + count)

  // int8 nodes (engine/int8_plan.cc). A uint8 buffer holds q for the value
  // scale * (q - zero); `out_u8` picks a uint8 output (with out's scale / zero) or float32.
  // quantize: q = clamp(rint(x / scale) + zero, 0, 255); dequantize: scale * (q - zero).
  int add_quantize(int input, float scale, int32_t zero);
  int add_dequantize(int input, float scale, int32_t zero);
  // weight: int8 (K, C/groups, R, S), symmetric: w_real[k] = w_scale[k] * weight[k];
  // mult[k] = in.scale * w_scale[k]. Output stage (see int8_nodes.h): acc + corr[k] (int32,
  // corr = -in.zero * rowsum[k]) -> float * mult[k] + bias[k] (+ residual, float32 or
  // uint8 with res's scale / zero) -> activation (none / relu / relu6) -> requantized.
  struct QParams {
    float scale = 1.f;
    int32_t zero = 0;
  };
  int add_conv_int8(int input, QParams in, std::vector<int8_t> weight, const std::vector<int64_t>& weight_shape,
                    const std::vector<float>& mult, const std::vector<float>& bias, int64_t stride_h,
                    int64_t stride_w, const std::vector<int64_t>& padding, int64_t dilation_h, int64_t dilation_w,
                    int64_t groups, Activation act, int residual, QParams res, bool out_u8, QParams out);
  int add_linear_int8(int input, QParams in, std::vector<int8_t> weight, int64_t out_features,
                      int64_t in_features, const std::vector<float>& mult, const std::vector<float>& bias,
                      Activation act, bool out_u8, QParams out);
  int add_max_pool_u8(int input, const PoolWindow& w, QParams q, bool out_u8);
  int add_avg_pool_u8(int input, const PoolWindow& w, QParams q, bool out_u8);
  int add_global_avg_pool_u8(int input, QParams q, bool out_u8);
  int add_concat_u8(const std::vector<int>& inputs, const std::vector<QParams>& in, QParams out);

  // Names the output buffer and plans the arena. No node can be added afterwards.
  void finalize(int output);
  bool finalized() const { return finalized_; }

  // x: batch x input sample; y: batch x output sample; 0 <= batch <= planned batch.
  // poison: fill the arena with NaN first and each buffer with NaN when it dies and
  // before it is written (debugging aliasing or forgotten writes).
  // node_seconds, when given, receives each node's wall time (profiling).
  void run(const float* x, int64_t batch, float* y, bool poison,
           std::vector<double>* node_seconds = nullptr) const;

  // The same into an arena the caller owns instead of one from the pool (the C API's
  // sessions each own one): at least arena_bytes() bytes (one 64-byte line when that is 0),
  // 64-byte aligned, used by one run at a time.
  void run_with_arena(const float* x, int64_t batch, float* y, float* arena) const;

  const std::vector<int64_t>& buffer_shape(int id) const;
  int output_id() const { return output_; }
  int64_t planned_batch() const { return buffers_[0].shape[0]; }
  int64_t arena_bytes() const { return arena_bytes_; }
  int64_t weight_bytes() const;
  // The bytes the arena would need without reuse (sum of all intermediates + scratch).
  int64_t unshared_bytes() const;
  const std::vector<Node>& nodes() const { return nodes_; }
  const std::vector<BufferInfo>& buffers() const { return buffers_; }
  int planned_threads() const { return planned_threads_; }
  int64_t arenas_created() const;
  ConvChoice conv_choice() const { return choice_; }
  // Precision of the conv / linear nodes added from now on (ValueError once nodes exist).
  void set_precision(Precision p);
  Precision precision() const { return precision_; }

 private:
  int new_buffer(std::vector<int64_t> shape);
  void check_buffer(int id, const char* what) const;
  int push(Node n, std::vector<int64_t> out_shape);
  float* arena_acquire() const;
  void arena_release(float* a) const;
  void run_in_arena(const float* x, int64_t batch, float* y, bool poison, std::vector<double>* node_seconds,
                    float* arena) const;
  void execute(const Node& n, const std::vector<float*>& ptr, float* arena, int64_t batch) const;

  std::vector<Node> nodes_;
  std::vector<BufferInfo> buffers_;
  int output_ = -1;
  bool finalized_ = false;
  int64_t arena_bytes_ = 0;
  int planned_threads_ = 1;
  ConvChoice choice_ = ConvChoice::heuristic;
  Precision precision_ = Precision::fp32;

  struct ArenaFree {
    void operator()(float* p) const;
  };
  mutable std::mutex pool_mutex_;
  mutable std::vector<std::unique_ptr<float, ArenaFree>> arenas_;  // all created
  mutable std::vector<float*> free_arenas_;
};

}  // namespace engine
}  // namespace cnnnative
