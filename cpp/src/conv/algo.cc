// The convolution algorithm registry and the public entry points.
//
// Algorithms register themselves (see conv.h); this file validates the descriptor,
// resolves "auto" or a forced name, and runs the choice. CNNNATIVE_ALGO in the
// environment, when set, replaces "auto" (users who need bitwise-stable results set
// it to "im2col").
#include <cstdlib>
#include <map>
#include <mutex>

#include "autotune.h"
#include "cnnnative/conv.h"
#include "cnnnative/depthwise.h"
#include "cnnnative/fft.h"
#include "cnnnative/winograd.h"
#include "cnnnative/errors.h"
#include "direct_smallc.h"
#include "direct_smallc_wino.h"
#include "grouped_cblock.h"
#include "winograd1d.h"

namespace cnnnative {
namespace {

std::map<std::string, ConvAlgorithm>& registry() {
  static std::map<std::string, ConvAlgorithm> r;
  return r;
}

std::string known_names() {
  std::string s = "auto";
  for (auto& [name, a] : registry()) s += ", " + name;
  return s;
}

// Resolve `algo` for this shape; throws ValueError naming the reason when it cannot run.
const ConvAlgorithm& resolve(const ConvParams& p, const std::string& algo, bool need_backward_input) {
  std::string name = algo;
  if (name == "auto") {
    const std::string forced = forced_conv_algorithm();
    name = forced.empty() ? choose_conv_algorithm(p, need_backward_input) : forced;
    // A forward-only choice (direct_smallc) leaves the input gradient to im2col.
    const ConvAlgorithm* chosen = find_conv_algorithm(name);
    if (forced.empty() && need_backward_input && chosen && !chosen->backward_input) name = "im2col";
  }
  // "direct" is the direct convolution of either kind: the depthwise kernel for depthwise
  // shapes, the small-channel kernel for dense ones.
  if (name == "direct" && !depthwise_supports(p, nullptr) && direct_smallc::supports(p, nullptr))
    name = "direct_smallc";
  const ConvAlgorithm* a = find_conv_algorithm(name);
  CN_CHECK(a != nullptr, "unknown convolution algorithm '", name, "'; choose one of ", known_names());
  std::string why;
  CN_CHECK(a->supports(p, &why), "algorithm '", name, "' does not support ", p.to_string(), ": ", why);
  CN_CHECK(!need_backward_input || a->backward_input != nullptr, "algorithm '", name,
           "' has no input-gradient implementation");
  return *a;
}

}  // namespace

std::string forced_conv_algorithm() {
  const char* env = std::getenv("CNNNATIVE_ALGO");
  return (env && *env && std::string(env) != "auto") ? std::string(env) : std::string();
}

void register_conv_algorithm(const ConvAlgorithm& algo) { registry()[algo.name] = algo; }

const ConvAlgorithm* find_conv_algorithm(const std::string& name) {
  auto it = registry().find(name);
  return it == registry().end() ? nullptr : &it->second;
}

std::vector<const ConvAlgorithm*> conv_algorithms() {
  std::vector<const ConvAlgorithm*> v;
  for (auto& [name, a] : registry()) v.push_back(&a);
  return v;
}

// The heuristic behind algo="auto". Algorithms other than im2col add their rules here
// as they land; the rules are measured on the benchmark layers (see benchmarks/).
//
// Rules (fastconv; measured single-threaded and 2-threaded on the benchmark layers of
// benchmarks/bench_conv_algos.py): depthwise shapes run "direct" (no GEMM to feed);
// 3x3 stride-1 layers with enough tiles and channels run Winograd, whose filter
// transform and 32-tile blocks only pay off with >= 16 tiles of 4x4 (one 16-lane half
// block, wino2) or >= 16 tiles of 2x2
// and >= 8 channels per group on both sides; stride-1 kernels of 5x5 and more with
// >= 3 input channels run the tiled FFT where its cost model (fft.h) beats im2col (for 3x3 it
// never beat Winograd); few-channel and strided kernels run direct_smallc (smallc,
// below) unless, at stride 1 with 5x5 or larger kernels, the FFT's cost model beats it;
// everything else runs im2col.
// With set_autotune(True) the candidates are timed once per shape instead.
std::string choose_conv_algorithm(const ConvParams& p, bool for_input_gradient) {
  if (autotune_enabled()) return autotuned_conv_algorithm(p);
  std::string why;
  if (depthwise_supports(p, &why) && p.C > 1) return "direct";
  // Small groups (ResNeXt, RegNet) with 16 channels per vector; its input gradient is not
  // written (im2col or Winograd take that).
  if (!for_input_gradient && grouped::prefer_for_ops(p)) return "grouped_lanes";
  // Few input channels (ResNet stem, AlexNet conv1, C < 16) or a strided kernel with up
  // to 64 channels: the GEMM would be short and deep and its unfolded input R*S copies of
  // the image; direct_smallc walks the taps instead. Measured single-threaded against
  // im2col 1.03x (C=64 3x3/2) to 1.8x (C=3 5x5/2), against Winograd 1.2-1.8x for C <= 16
  // and against the FFT 1.45x (C=16 5x5); it loses to Winograd from C ~ 24 and to the FFT
  // on C=64 5x5 (stride 1), and to the plain GEMM on 1x1.
  const bool direct_ok = direct_smallc::supports(p, &why) && p.R * p.S > 1;
  // FFT (kernels of 5x5 and more, stride 1) where its cost model (fft.h, single-thread ms)
  // beats the alternative (direct_smallc or im2col) run at `gflops` per core.
  auto fft_beats = [&](double gflops) {
    if (p.R * p.S < 25 || p.C / p.groups < 3 || p.K / p.groups < 4) return false;
    const int T = fft_default_window(p);
    const double other_ms = 2.0 * double(p.N) * double(p.K) * double(p.C / p.groups) * double(p.R * p.S) *
                             double(p.output_h()) * double(p.output_w()) / (gflops * 1e6);
    return T != 0 && fft_estimated_ms(p, T) < other_ms;
  };
  if (direct_ok && (p.C < 16 || p.stride_h * p.stride_w > 1)) {
    if (direct_smallc_wino::preferred(p)) return "direct_smallc_wino";
    // direct_smallc measured 70-100 GFLOP/s per core on few-channel stride-1 5x5 / 7x7
    // layers, where the FFT measured 1.2-1.7x faster (LeNet conv2 b64: 0.16 vs 0.22 ms at 2
    // threads; 7x7 C=3 224x224 b1: 3.6 vs 4.5 ms) except with few input and many output
    // channels (C=3 -> 64 5x5 32x32 b16: direct 0.61, fft 0.95), which the cost model also
    // gets right at any rate from 60 to 90.
    // The input gradient stays on im2col (direct_smallc has none): the FFT's was slower
    // there (LeNet conv2 forward + both gradients 0.96x torch with it, 1.23x without).
    return !for_input_gradient && fft_beats(80.0) ? "fft" : "direct_smallc";
  }
  if (winograd_supports(p, 4, &why)) {
    auto tiles = [&](int64_t m) { return p.N * ((p.output_h() + m - 1) / m) * ((p.output_w() + m - 1) / m); };
    const int64_t cg = p.C / p.groups, kg = p.K / p.groups;
    if (cg >= 8 && kg >= 8) {
      if (tiles(4) >= 16) return "winograd";      // tile size by winograd_default_tile (16 tiles: one half block)
      if (tiles(2) >= 16) return "winograd2x2";  // e.g. 7x7 at batch 1 (wino2: faster than im2col)
    }
  }
  // conv1d's 3-tap layers with many channels (TCN): 1-D Winograd (winograd1d.cc).
  if (winograd1d::preferred(p)) return "winograd1d";
  // FFT (kernels of 5x5 and more): when its cost model (fft.h) beats im2col's ~75
  // GFLOP/s per core on these layers (measured 62-85 with >= 16 channels).
  if (fft_beats(75.0)) return "fft";
  // C <= 64: beat im2col on every 2-D shape measured. Not on conv1d's rows (H = R = 1,
  // stride 1) from 48 channels: there im2col's unfold is R plain row copies and its GEMM
  // wins (one thread, CPU time: C=48->96 L2048 k3 7.1 vs 9.6 ms, C=64 L4096 k3 d4 17.4 vs
  // 20.0, k5 31.4 vs 34.3; at C=32 direct_smallc still won, 5.4 vs 7.1).
  const bool row_conv = p.H == 1 && p.R == 1 && p.stride_w == 1;
  if (direct_ok && !(row_conv && p.C >= 48)) return "direct_smallc";
  return "im2col";
}

void conv2d_forward(const ConvParams& p, const float* x, const float* w, const float* bias,
                    float* y, const std::string& algo) {
  p.validate();
  const ConvAlgorithm& a = resolve(p, algo, false);
  if (p.N == 0) return;
  a.forward(p, x, w, bias, y);
}

void conv2d_backward_input(const ConvParams& p, const float* dy, const float* w, float* dx,
                           const std::string& algo) {
  p.validate();
  const ConvAlgorithm& a = resolve(p, algo, true);
  if (p.N == 0) return;
  a.backward_input(p, dy, w, dx);
}

}  // namespace cnnnative
