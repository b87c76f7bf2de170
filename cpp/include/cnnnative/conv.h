// Convolution entry points and the algorithm registry.
//
// Each algorithm (im2col, winograd2x2, winograd4x4, fft, direct, ...) lives in its own
// source files and registers itself with CNNNATIVE_REGISTER_CONV_ALGORITHM, so adding
// one touches no shared file. conv/algo.cc picks one for algo="auto" and checks a
// forced choice against `supports`.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "cnnnative/conv_params.h"

namespace cnnnative {

struct ConvAlgorithm {
  const char* name;  // the string users pass as algo=
  // True when this algorithm can run the shape; otherwise writes the reason to *why.
  bool (*supports)(const ConvParams& p, std::string* why);
  // y[N,K,OH,OW] = conv(x[N,C,H,W], w[K,C/g,R,S]) + bias[K] (bias may be null).
  void (*forward)(const ConvParams& p, const float* x, const float* w, const float* bias, float* y);
  // dx[N,C,H,W] = conv_transpose(dy, w). Null when the algorithm has no input gradient.
  void (*backward_input)(const ConvParams& p, const float* dy, const float* w, float* dx);
  // Scratch bytes forward needs for this shape (for reporting and planning).
  size_t (*workspace_bytes)(const ConvParams& p);
};

// Registration happens at library load; lookups are by name.
void register_conv_algorithm(const ConvAlgorithm& algo);
const ConvAlgorithm* find_conv_algorithm(const std::string& name);  // null when unknown
std::vector<const ConvAlgorithm*> conv_algorithms();

struct ConvAlgorithmRegistrar {
  explicit ConvAlgorithmRegistrar(const ConvAlgorithm& a) { register_conv_algorithm(a); }
};
#define CNNNATIVE_REGISTER_CONV_ALGORITHM(ident, ...) \
  static ::cnnnative::ConvAlgorithmRegistrar cnnnative_conv_algo_##ident(__VA_ARGS__)

// The public operations. `algo` is "auto" or a registered name; an unknown name or one
// that does not support the shape is a ValueError naming the reason.
void conv2d_forward(const ConvParams& p, const float* x, const float* w, const float* bias,
                    float* y, const std::string& algo);
void conv2d_backward_input(const ConvParams& p, const float* dy, const float* w, float* dx,
                           const std::string& algo);
// dw[K,C/g,R,S]; db[K] (may be null) = sum of dy over N, OH, OW.
void conv2d_backward_weight(const ConvParams& p, const float* x, const float* dy, float* dw,
                            float* db);

// The algorithm CNNNATIVE_ALGO forces in place of "auto" ("" when unset or "auto"). Read on
// each call, so every pass (forward, both gradients) honours the same switch.
std::string forced_conv_algorithm();

// What "auto" would choose for this shape: for the forward pass, or with
// for_input_gradient for conv2d_input of the same layer (the FFT replaces direct_smallc
// on few-channel layers only forward, where it was measured faster).
std::string choose_conv_algorithm(const ConvParams& p, bool for_input_gradient = false);

}  // namespace cnnnative
