// Adaptive average and max pooling over (planes, D, H, W) -> (planes, OD, OH, OW), any
// output size: PyTorch's windows, output i of an axis covering
//   [floor(i * in / out), ceil((i + 1) * in / out)),
// which overlap when out does not divide in. 1-D and 2-D are the same with D = 1 (and
// H = 1). Max returns the last NaN or the first maximum of each window (PyTorch's order),
// its index flat in the input plane (d*H*W + h*W + w).
#pragma once
#include <cstdint>

namespace cnnnative {

struct AdaptivePoolParams {
  int64_t planes = 0, D = 1, H = 1, W = 1, OD = 1, OH = 1, OW = 1;
};

// Sizes >= 1 (planes >= 0) and the products fit int64; ValueError/OverflowError otherwise.
void validate_adaptive_pool_params(const AdaptivePoolParams& p, const char* op);

// Threaded entry points (GIL released by the caller). idx may be null for max.
void adaptive_avg_pool_forward(const AdaptivePoolParams& p, const float* x, float* y);
void adaptive_avg_pool_backward(const AdaptivePoolParams& p, const float* dy, float* dx);
void adaptive_max_pool_forward(const AdaptivePoolParams& p, const float* x, float* y, int64_t* idx);
// Throws ValueError if an index is outside its plane (checked before anything is written).
void adaptive_max_pool_backward(const AdaptivePoolParams& p, const float* dy, const int64_t* idx, float* dx);

}  // namespace cnnnative
