// Cross-channel pooling (maxout): the max or mean over each group of k consecutive channels,
// (N, C, S) -> (N, C/k, S), S being the flattened spatial size. Max keeps the arg-max
// piece j in [0, k) per output for the backward pass; the first maximum wins and the first
// NaN wins, as torch's x.view(N, C/k, k, S).max(2).
#pragma once
#include <cstdint>

namespace cnnnative {

struct ChannelPoolKernels {
  // One group: x holds its k channels of S floats each; outputs y (and idx) hold S values.
  // Only positions [s0, s1) are done. idx may be null.
  void (*max_forward)(const float* x, float* y, int32_t* idx, int64_t k, int64_t S, int64_t s0, int64_t s1);
  void (*avg_forward)(const float* x, float* y, int64_t k, int64_t S, int64_t s0, int64_t s1);
  // gx (k channels of S) fully written for [s0, s1): the gradient at the arg-max piece, 0 elsewhere.
  void (*max_backward)(const float* g, const int32_t* idx, float* gx, int64_t k, int64_t S, int64_t s0, int64_t s1);
  void (*avg_backward)(const float* g, float* gx, int64_t k, int64_t S, int64_t s0, int64_t s1);
};

extern const ChannelPoolKernels channel_pool_kernels_scalar;
extern const ChannelPoolKernels channel_pool_kernels_avx2;
extern const ChannelPoolKernels channel_pool_kernels_avx512;

// Threaded over (group, block of positions); groups = N * C / k. GIL released by the caller.
void max_pool_channels_forward(const float* x, float* y, int32_t* idx, int64_t groups, int64_t k, int64_t S);
// Throws ValueError if a piece index is outside [0, k) (checked before anything is written).
void max_pool_channels_backward(const float* g, const int32_t* idx, float* gx, int64_t groups, int64_t k, int64_t S);
void avg_pool_channels_forward(const float* x, float* y, int64_t groups, int64_t k, int64_t S);
void avg_pool_channels_backward(const float* g, float* gx, int64_t groups, int64_t k, int64_t S);

}  // namespace cnnnative
