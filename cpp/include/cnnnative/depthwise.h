// Direct depthwise convolution: groups == C (one input channel per group), K = C * m
// for a channel multiplier m >= 1, any kernel size, stride, padding and dilation.
//
// Output channel k reads input channel k / m. Each output row is accumulated in place
// over the kernel taps, one contiguous run of pixels per tap, so the inner loops run
// over the spatial axis in SIMD registers (AVX-512, AVX2 or scalar chosen per call).
// Registered as algorithm "direct" (forward and input gradient). Error: a sum of R*S
// products per output, as im2col: |err| <= ~R*S * 2^-24 * sum|x*w|.
#pragma once
#include <string>

#include "cnnnative/conv_params.h"

namespace cnnnative {

// True when p is depthwise (groups == C, weight (K, 1, R, S)); otherwise the reason.
bool depthwise_supports(const ConvParams& p, std::string* why);

// y[N,K,OH,OW] = depthwise conv(x[N,C,H,W], w[K,1,R,S]) + bias[K] (bias may be null).
void depthwise_forward(const ConvParams& p, const float* x, const float* w, const float* bias, float* y);

// dx[N,C,H,W] from dy[N,K,OH,OW].
void depthwise_backward_input(const ConvParams& p, const float* dy, const float* w, float* dx);

// The weight gradient for depthwise shapes, for conv2d_backward_weight to route to:
// when depthwise_supports(p) it writes dw[K,1,R,S] (and db[K] = sum of dy over N, OH,
// OW when db is not null) and returns true; otherwise it returns false and writes nothing.
bool depthwise_backward_weight(const ConvParams& p, const float* x, const float* dy, float* dw, float* db);

}  // namespace cnnnative
