// Small-channel direct convolution nodes (ResNet stem, AlexNet conv1): the weights are
// packed once at build time, the tap planes live in the node's arena scratch, and bias,
// residual and activation are applied in registers (see conv/direct_smallc.h). Where it
// pays (the stem and AlexNet conv1 on AVX-512 and AVX2) the node runs the 1-D Winograd
// F(2,3) / F(2,4) variant (conv/direct_smallc_wino.h).
#include <chrono>

#include "conv/direct_smallc.h"
#include "conv/direct_smallc_wino.h"
#include "engine/kernels.h"

namespace cnnnative {
namespace engine {

bool direct_smallc_preferred(const ConvParams& p) {
  // As conv algo="auto" (conv/algo.cc): few input channels (the stem), or a strided
  // kernel with up to 64 channels (ResNet-18's first stride-2 3x3, which autotune also
  // picks). configure_conv asks only when Winograd was not chosen.
  return direct_smallc::supports(p, nullptr) && p.R * p.S > 1 && (p.C < 16 || p.stride_h * p.stride_w > 1);
}

namespace {

void pack_for(Node& n, ConvMethod method) {
  const bool wino = method == ConvMethod::direct_smallc_wino;
  std::vector<float> packed(static_cast<size_t>(wino ? direct_smallc_wino::packed_weight_floats(n.conv)
                                                     : direct_smallc::packed_weight_floats(n.conv)));
  if (wino)
    direct_smallc_wino::pack_weights(n.conv, n.weight.data(), packed.data());
  else
    direct_smallc::pack_weights(n.conv, n.weight.data(), packed.data());
  // The Winograd variant keeps the OIHW copy after the packed filters: inputs holding NaN
  // or inf are computed directly from it (direct_smallc_wino::forward_packed).
  if (wino) packed.insert(packed.end(), n.weight.begin(), n.weight.end());
  n.method = method;
  n.weight = std::move(packed);  // replaces the OIHW copy
}

}  // namespace

void use_direct_smallc(Node& n) {
  pack_for(n, direct_smallc_wino::preferred(n.conv) ? ConvMethod::direct_smallc_wino : ConvMethod::direct_smallc);
}

int64_t direct_smallc_scratch_floats(const Node& n, int threads) {
  const size_t bytes = n.method == ConvMethod::direct_smallc_wino ? direct_smallc_wino::workspace_bytes(n.conv, threads)
                                                                  : direct_smallc::workspace_bytes(n.conv, threads);
  return static_cast<int64_t>((bytes + sizeof(float) - 1) / sizeof(float));
}

void direct_smallc_forward(const Node& n, int64_t batch, const float* x, const float* residual, float* y,
                           float* scratch, int threads) {
  ConvParams p = n.conv;
  p.N = batch;
  const ConvEpilogue ep = conv_epilogue(n, residual);
  if (n.method == ConvMethod::direct_smallc_wino)
    direct_smallc_wino::forward_packed(p, x, n.weight.data(),
                                       n.weight.data() + direct_smallc_wino::packed_weight_floats(n.conv), ep, y,
                                       scratch, size_t(n.scratch_bytes), threads);
  else
    direct_smallc::forward_packed(p, x, n.weight.data(), ep, y, scratch, size_t(n.scratch_bytes), threads);
}

void autotune_direct_smallc(Node& n, const Node& trial, const std::vector<float>& x, std::vector<float>& y,
                            int threads, double* best) {
  for (ConvMethod method : {ConvMethod::direct_smallc, ConvMethod::direct_smallc_wino}) {
    const bool wino = method == ConvMethod::direct_smallc_wino;
    if (!(wino ? direct_smallc_wino::supports(trial.conv, nullptr) : direct_smallc::supports(trial.conv, nullptr)))
      continue;
    Node d = trial;  // trial still holds the OIHW weights (n's may be packed by now)
    pack_for(d, method);
    d.scratch_bytes = direct_smallc_scratch_floats(d, threads) * int64_t(sizeof(float));
    std::vector<float> scratch(static_cast<size_t>(d.scratch_bytes / int64_t(sizeof(float))));
    double t = 1e30;
    for (int rep = 0; rep < 3; ++rep) {  // best of two after a warm-up, as the other candidates
      const auto t0 = std::chrono::steady_clock::now();
      direct_smallc_forward(d, d.conv.N, x.data(), nullptr, y.data(), scratch.data(), threads);
      const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (rep > 0) t = std::min(t, dt);
    }
    if (t < *best) {
      *best = t;
      n.method = method;
      n.weight = std::move(d.weight);
      n.winograd_weights.reset();
    }
  }
}

}  // namespace engine
}  // namespace cnnnative
