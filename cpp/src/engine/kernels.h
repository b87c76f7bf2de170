// The engine's node kernels (internal). Each takes the node, the batch actually being
// run (<= the planned one) and raw pointers the executor resolved from the arena.
// Kernels write every element of their output (the arena is never pre-zeroed).
#pragma once
#include <algorithm>
#include <cstdint>
#include <vector>

#include "cnnnative/engine.h"

namespace cnnnative {
namespace engine {

inline float activate(float v, Activation a) {
  switch (a) {
    case Activation::relu: return v > 0.f ? v : 0.f;
    case Activation::relu6: return std::min(std::max(v, 0.f), 6.f);
    default: return v;
  }
}

// Build time: choose the conv method and GEMM tiles, then the scratch each node needs.
void configure_conv(Node& n, ConvChoice choice);
size_t winograd_weights_bytes(const Node& n);
void configure_scratch(Node& n, int threads);

// Convolution with its fused epilogue (bias, residual, activation).
void conv_forward(const Node& n, int64_t batch, const float* x, const float* residual, float* y,
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

void max_pool_forward(const Node& n, int64_t batch, const float* x, float* y, int threads);
void avg_pool_forward(const Node& n, int64_t batch, const float* x, float* y, int threads);
void global_avg_pool_forward(const Node& n, int64_t batch, const float* x, float* y, int threads);
void linear_forward(const Node& n, int64_t batch, const float* x, float* y, int threads);
void add_forward(const Node& n, int64_t count, const float* a, const float* b, float* y, int threads);
void softmax_forward(const Node& n, int64_t batch, const float* x, float* y);
void channel_affine_forward(const Node& n, int64_t batch, const float* x, float* y, int threads);
void activation_forward(const Node& n, int64_t count, const float* x, float* y, int threads);
// Copies one concat input into its channel slice of y (per_sample floats of y_per_sample,
// starting at `offset` within each sample).
void concat_part_forward(int64_t batch, const float* x, int64_t per_sample, float* y, int64_t y_per_sample,
                         int64_t offset);

}  // namespace engine
}  // namespace cnnnative
