// Choosing each convolution's method once, when the plan is built.
//
// heuristic: depthwise for groups == C == K; the 1x1 GEMM when the image is already
// the GEMM's B; im2col + GEMM otherwise -- except 3x3 stride-1 dense convs with at least
// 16 input and output channels (fewer make the transforms dominate), which take Winograd
// when its filters are reused enough: the transformed filters are (m+2)^2/9 times the
// original (4x for F(4x4), 1.8x for F(2x2)) and are read once per call, so with few
// output tiles (small images at batch 1: ResNet's 7x7 stage) the conv would be bound by
// reading them, and memory would grow for nothing. conv1d's 3-tap layers (height 1, 1x3)
// with many channels take the 1-D Winograd (winograd1d::preferred, as the ops' "auto"). F(4x4) when the batch has >= 16
// tiles of 4x4, else F(2x2) when it has >= 16 tiles of 2x2 (ResNet's 7x7 stage at batch 1:
// measured faster than im2col with prepared filters), else GEMM. F(6x6) is never picked: its float32 error
// (tests/test_conv_fast.py) is too large for the 1e-4 equivalence inference promises.
// gemm_prepacked (conv_prepacked.cc) replaces im2col_gemm / gemm_1x1 on small images
// with many channels (prefer_prepacked: <= 256 output pixels, or <= 1024 with a deep
// unfold; measured faster there on every ISA, 0.6-0.9x the time).
// CNNNATIVE_ENGINE_PREPACK=always/never overrides that (tests, benchmarks).
// autotune: runs every candidate on random data of the node's shape and keeps the
// fastest (a few milliseconds per conv at build time).
#include <chrono>
#include <random>

#include "cnnnative/errors.h"
#include "cnnnative/winograd.h"
#include "conv/winograd1d.h"
#include "cnnnative/threads.h"
#include "engine/kernels.h"

namespace cnnnative {
namespace engine {

void configure_gemm_tiles(Node& n, int threads);  // conv_node.cc
int64_t conv_scratch_floats(const Node& n, int threads);

size_t winograd_weights_bytes(const Node& n) { return n.winograd_weights ? n.winograd_weights->bytes() : 0; }

namespace {

// Winograd (wino2): a block of 16 tiles runs the 16-lane GEMM, so 16 tiles fill it.
constexpr int64_t kMinWinogradTiles = 16;

bool is_depthwise(const ConvParams& p) { return p.groups > 1 && p.groups == p.C && p.groups == p.K; }

bool is_plain_1x1(const ConvParams& p) {
  return p.R == 1 && p.S == 1 && p.stride_h == 1 && p.stride_w == 1 && p.pad_top == 0 && p.pad_bottom == 0 &&
         p.pad_left == 0 && p.pad_right == 0;
}

ConvMethod gemm_method(const ConvParams& p) {
  return is_depthwise(p) ? ConvMethod::depthwise : is_plain_1x1(p) ? ConvMethod::gemm_1x1 : ConvMethod::im2col_gemm;
}

void use_winograd(Node& n, int tile) {
  n.method = ConvMethod::winograd;
  n.winograd_tile = tile;
  n.winograd_weights = std::make_shared<WinogradWeights>(winograd_prepare(n.conv, n.weight.data(), tile));
}

// conv1d's 3-tap layers with many channels: 1-D Winograd (conv/winograd1d.h), its
// default tile, the same shapes as the ops' "auto" rule.
void use_winograd1d(Node& n) {
  n.method = ConvMethod::winograd1d;
  n.winograd_tile = winograd1d::default_tile(n.conv);
  n.winograd_weights =
      std::make_shared<WinogradWeights>(winograd1d::prepare(n.conv, n.weight.data(), n.winograd_tile));
}

// Median-free but robust enough: the best of a few runs after one warm-up.
double time_method(Node& n, const std::vector<float>& x, std::vector<float>& y, std::vector<float>& scratch,
                   int threads) {
  const ConvParams& p = n.conv;
  double best = 1e30;
  for (int rep = 0; rep < 3; ++rep) {
    auto t0 = std::chrono::steady_clock::now();
    conv_forward(n, p.N, x.data(), nullptr, y.data(), scratch.data(), threads);
    const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (rep > 0) best = std::min(best, dt);
  }
  return best;
}

void autotune(Node& n, int threads) {
  ConvParams p = n.conv;
  p.N = std::max<int64_t>(p.N, 1);
  Node trial = n;
  trial.conv = p;
  std::mt19937 gen(1234);
  std::uniform_real_distribution<float> dist(-1.f, 1.f);
  std::vector<float> x(size_t(p.input_numel())), y(size_t(p.output_numel()));
  for (float& v : x) v = dist(gen);
  trial.method = ConvMethod::im2col_gemm;
  configure_gemm_tiles(trial, threads);
  std::vector<float> scratch(size_t(conv_scratch_floats(trial, threads)));

  trial.method = gemm_method(p);
  double best = time_method(trial, x, y, scratch, threads);
  n.method = trial.method;
  if (trial.method != ConvMethod::depthwise) {
    Node packed = trial;
    packed.method = ConvMethod::gemm_prepacked;
    prepack_conv_weights(packed);
    configure_prepacked_tiles(packed, threads);
    scratch.resize(std::max(scratch.size(), size_t(conv_scratch_floats(packed, threads))));
    const double t = time_method(packed, x, y, scratch, threads);
    if (t < best) {
      best = t;
      n.method = ConvMethod::gemm_prepacked;
      n.prepacked = packed.prepacked;
    }
  }
  // The trial node's time with its own scratch (a Winograd method set on it).
  auto time_trial = [&] {
    trial.scratch_bytes = conv_scratch_floats(trial, threads) * int64_t(sizeof(float));
    scratch.resize(std::max(scratch.size(), size_t(trial.scratch_bytes / int64_t(sizeof(float)))));
    return time_method(trial, x, y, scratch, threads);
  };
  for (int tile : {2, 4}) {
    if (is_depthwise(p) || !winograd_supports(p, tile, nullptr)) continue;
    use_winograd(trial, tile);
    const double t = time_trial();
    if (t < best) {
      best = t;
      n.method = ConvMethod::winograd;
      n.winograd_tile = tile;
      n.winograd_weights = trial.winograd_weights;
      n.prepacked.reset();
    }
  }
  if (winograd1d::supports(p, winograd1d::default_tile(p), nullptr)) {
    use_winograd1d(trial);
    const double t = time_trial();
    if (t < best) {
      best = t;
      n.method = ConvMethod::winograd1d;
      n.winograd_tile = trial.winograd_tile;
      n.winograd_weights = trial.winograd_weights;
      n.prepacked.reset();
    }
  }
  autotune_direct_smallc(n, trial, x, y, threads, &best);  // direct_node.cc
}

}  // namespace

void configure_conv(Node& n, ConvChoice choice) {
  const ConvParams& p = n.conv;
  n.method = gemm_method(p);
  n.winograd_weights.reset();
  n.prepacked.reset();
  if (choice == ConvChoice::autotune) {
    autotune(n, num_threads());
  } else if (choice == ConvChoice::heuristic && p.groups == 1 && p.C >= 16 && p.K >= 16 &&
             winograd_supports(p, 4, nullptr)) {
    auto tiles = [&](int64_t m) {
      return std::max<int64_t>(p.N, 1) * ((p.output_h() + m - 1) / m) * ((p.output_w() + m - 1) / m);
    };
    if (tiles(4) >= kMinWinogradTiles)
      use_winograd(n, 4);
    else if (tiles(2) >= kMinWinogradTiles)
      use_winograd(n, 2);
  } else if (choice == ConvChoice::heuristic) {
    ConvParams planned = p;
    planned.N = std::max<int64_t>(p.N, 1);
    if (winograd1d::preferred(planned)) use_winograd1d(n);
  }
  if (choice == ConvChoice::heuristic && n.method != ConvMethod::winograd && n.method != ConvMethod::winograd1d &&
      direct_smallc_preferred(p))
    use_direct_smallc(n);  // small-channel direct convolution (direct_node.cc)
  if ((n.method == ConvMethod::im2col_gemm || n.method == ConvMethod::gemm_1x1) && choice != ConvChoice::autotune &&
      prefer_prepacked(p)) {
    n.method = ConvMethod::gemm_prepacked;
    prepack_conv_weights(n);
  }
  if (n.method == ConvMethod::winograd || n.method == ConvMethod::winograd1d ||
      n.method == ConvMethod::gemm_prepacked) {
    n.weight.clear();  // the transformed / packed filters replace the OIHW copy
    n.weight.shrink_to_fit();
  }
}

}  // namespace engine
}  // namespace cnnnative
