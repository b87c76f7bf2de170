// The engine's node kernels (internal). Each takes the node, the batch actually being
// run (<= the planned one) and raw pointers the executor resolved from the arena.
// Kernels write every element of their output (the arena is never pre-zeroed).
#pragma once
#include <algorithm>
#include <cstdint>
#include <vector>

#include "cnnnative/engine.h"
#include "cnnnative/thread_pool.h"
#include "act/epilogue_activation.h"  // ActivationPass, stored_by_kernel
#include "cnnnative/winograd.h"         // ConvEpilogue

namespace cnnnative {
namespace engine {

// The NaN rule (README "Conventions"), as PyTorch: relu(NaN) = relu6(NaN) = NaN. Every
// comparison with NaN is false, so `v < 0 ? 0 : v` keeps it (`v > 0 ? v : 0` would not);
// std::max(v, 0.f) / std::min(v, 6.f) return their first argument when the test is false.
// SIMD epilogues get the same from max_ps(zero, v) / min_ps(six, v): x86 max/min return
// the SECOND operand when either is NaN, so the data goes second.
// Only ReLU/ReLU6 here (what store code applies per value); the other activations are
// applied after the store by an ActivationPass (act/epilogue_activation.h).
inline float activate(float v, Activation a) {
  switch (a) {
    case Activation::relu: return v < 0.f ? 0.f : v;
    case Activation::relu6: return std::min(std::max(v, 0.f), 6.f);
    default: return v;
  }
}

// The node's fused output stage as the conv kernels take it: its bias, the residual (or
// null) and its activation (the engine's enum has the same values as the kernels').
inline ConvEpilogue conv_epilogue(const Node& n, const float* residual) {
  ConvEpilogue ep;
  ep.bias = n.bias.data();
  ep.residual = residual;
  ep.activation = static_cast<cnnnative::Activation>(static_cast<int>(n.act));
  ep.slope = n.act_slope.data();
  ep.slopes = static_cast<int64_t>(n.act_slope.size());
  return ep;
}
// The part of the node's activation its kernels' store code applies (none/relu/relu6).
inline Activation stored_part(Activation a) {
  return static_cast<Activation>(static_cast<int>(stored_by_kernel(static_cast<cnnnative::Activation>(int(a)))));
}
// The pass that applies the rest right after each store (empty for none/relu/relu6).
inline ActivationPass node_activation_pass(const Node& n) { return activation_pass(conv_epilogue(n, nullptr)); }

// Build time: choose the conv method and GEMM tiles, then the scratch each node needs.
void configure_conv(Node& n, ConvChoice choice);
size_t winograd_weights_bytes(const Node& n);
void configure_scratch(Node& n, int threads);

// Transposed convolution (conv_transpose_node.cc): its scratch (x with the extra zero
// rows/columns, when it has them) and its run with bias and activation.
int64_t conv_transpose_scratch_bytes(Node& n);  // also builds n.subpixel_weight
void conv_transpose_forward(const Node& n, int64_t batch, const float* x, float* y, float* scratch, int threads);

// Convolution with its fused epilogue (bias, residual, activation).
void conv_forward(const Node& n, int64_t batch, const float* x, const float* residual, float* y,
                  float* scratch, int threads);

// Rows [row0, row0 + rows) and output pixels [n0, n0 + cols) of one image group's unfolded
// matrix (rows (c, r, s), columns pixels) into dst (rows x cols, row-major; 0 in padding).
void im2col_rows(const ConvParams& p, const float* x, int64_t row0, int64_t rows, int64_t n0, int64_t cols,
                 float* dst);
// 1x1, stride 1, no padding: the image itself is the unfolded matrix.
bool conv_is_plain_1x1(const ConvParams& p);

// The gemm_prepacked method (conv_prepacked.cc): should this conv take it; pack its
// weights; choose its tiles; its scratch; run it (false: the packed ISA is not the
// active one, the caller runs the plain GEMM path instead).
bool prefer_prepacked(const ConvParams& p);
void prepack_conv_weights(Node& n);
size_t prepacked_weights_bytes(const Node& n);
// The OIHW weights back from the packed copy (which replaces them): for a run under
// another ISA than the one packed for (tests), not a hot path.
std::vector<float> unpack_prepacked_weights(const Node& n);
void configure_prepacked_tiles(Node& n, int threads);
int64_t prepacked_scratch_floats(const Node& n, int threads);
// AVX-512 (conv_prepacked_unfold__avx512.cc): rows [k0, k0 + kb) of unfold^T for pixels
// [n0, n0 + cols) of one image group, straight into MR-pixel panels (panel i at
// dst + i * mr * kb; lanes past cols zero). Usable when unfold_panels_fits__avx512.
bool unfold_panels_fits__avx512(const ConvParams& p, int mr);
void unfold_panels__avx512(const ConvParams& p, const float* x, int64_t k0, int64_t kb, int64_t n0, int64_t cols,
                           int mr, float* dst);
// AVX-512 (conv_prepacked_store__avx512.cc): y[ch * ldy + i] = act(t[i * ldt + ch] +
// bias[ch] (+ res[ch * ldy + i])) for ch < channels, i < pixels; bias/res may be null.
void store_transposed__avx512(Activation act, const float* t, int64_t ldt, int64_t pixels, int64_t channels,
                              const float* bias, const float* res, float* y, int64_t ldy);
bool prepacked_conv_forward(const Node& n, int64_t batch, const float* x, const float* residual, float* y,
                            float* scratch, int threads);
void depthwise_forward(const Node& n, int64_t batch, const float* x, const float* residual, float* y,
                       int threads);
// Small-channel direct convolution (direct_node.cc): the choice, the build-time weight
// packing, the scratch it needs and the run.
bool direct_smallc_preferred(const ConvParams& p);
void use_direct_smallc(Node& n);
int64_t direct_smallc_scratch_floats(const Node& n, int threads);
void direct_smallc_forward(const Node& n, int64_t batch, const float* x, const float* residual, float* y,
                           float* scratch, int threads);
// Autotune: times the direct kernel on trial's shape and data; when faster than *best,
// switches n to it (packed weights) and lowers *best.
void autotune_direct_smallc(Node& n, const Node& trial, const std::vector<float>& x, std::vector<float>& y,
                            int threads, double* best);

// bf16 nodes (bf16_node.cc): which convs run as bf16 GEMMs (not depthwise, the stem, nor
// the fp32 heuristic's Winograd F(4x4) convs, which stay fp32); rounding
// and packing a conv's / linear layer's weights (replacing `weight`); a conv's tiles and
// scratch (set in configure_scratch) and its run with the fused epilogue. Where the
// AVX512-BF16 kernels do not run, the same nodes compute with bf16-rounded fp32 operands.
bool bf16_conv_eligible(const ConvParams& p, ConvChoice choice);
void use_bf16_conv(Node& n);
void use_bf16_linear(Node& n);
int64_t bf16_weights_bytes(const Node& n);
void configure_bf16_conv(Node& n, int threads);
void bf16_conv_forward(const Node& n, int64_t batch, const float* x, const float* residual, float* y,
                       float* scratch, int threads);

void max_pool_forward(const Node& n, int64_t batch, const float* x, float* y, int threads);
void avg_pool_forward(const Node& n, int64_t batch, const float* x, float* y, int threads);
void global_avg_pool_forward(const Node& n, int64_t batch, const float* x, float* y, int threads);
void linear_forward(const Node& n, int64_t batch, const float* x, float* y, int threads);
void add_forward(const Node& n, int64_t count, const float* a, const float* b, float* y, int threads);
void softmax_forward(const Node& n, int64_t batch, const float* x, float* y);
void channel_affine_forward(const Node& n, int64_t batch, const float* x, float* y, int threads);
void activation_forward(const Node& n, int64_t count, const float* x, float* y, int threads);
// channel_scale_node.cc: y = x * s per (n, c) plane (y may be x), and the in-place rule of
// finalize: alias_of[out] = the buffer whose bytes output `out` reuses, -1 for none.
void channel_scale_node_forward(const Node& n, int64_t batch, const float* x, const float* s, float* y,
                                int threads);
std::vector<int> alias_in_place_outputs(const std::vector<Node>& nodes, std::vector<BufferInfo>& buffers,
                                        int plan_output);
// finalize, batch-1 plans (concat_in_place.cc): root_of[part] = the concat output whose bytes
// hold input `part` as its slice (the producer writes it there; the concat copies nothing), -1.
std::vector<int> concat_parts_in_place(const std::vector<Node>& nodes, const std::vector<BufferInfo>& buffers,
                                       int plan_output, const std::vector<int>& alias_of);
// Resampling and channel layout (interpolate_node.cc, pixel_shuffle_node.cc,
// channel_shuffle_node.cc): the src/resample kernels from x's buffer into y's.
void check_interpolate_node(const Node& n);  // ValueError / OverflowError naming the sizes
void interpolate_node_forward(const Node& n, int64_t batch, const float* x, float* y, int threads);
void pixel_shuffle_node_forward(const Node& n, int64_t batch, const float* x, float* y, int threads);
void pixel_unshuffle_node_forward(const Node& n, int64_t batch, const float* x, float* y, int threads);
void channel_shuffle_node_forward(const Node& n, int64_t batch, const float* x, float* y, int threads);
// Copies one concat input into its channel slice of y (per_sample floats of y_per_sample,
// starting at `offset` within each sample).
// y[i] = x[i][offset : offset + y_per_sample] for each batch item i (a channel range).
void channel_slice_forward(int64_t batch, const float* x, int64_t x_per_sample, int64_t offset, float* y,
                           int64_t y_per_sample);
void concat_part_forward(int64_t batch, const float* x, int64_t per_sample, float* y, int64_t y_per_sample,
                         int64_t offset);

}  // namespace engine
}  // namespace cnnnative
