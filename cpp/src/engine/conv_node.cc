// Convolution nodes: im2col (or the image itself for 1x1) + GEMM, tile by tile, with
// the epilogue (bias, residual, activation) applied to each output tile right after
// the GEMM wrote it, while it is still in cache -- no separate pass over the output.
//
// Per image and group: all threads unfold the image into the shared scratch
// (Cg*R*S rows x OH*OW columns), then split the output (Kg x OH*OW) into tiles; each
// thread runs sgemm_single_thread on its tiles. Weights are the GEMM's A (Kg x Cg*R*S,
// exactly OIHW memory), so no re-layout is needed; BatchNorm was folded into them.
#include <omp.h>

#include <cstring>

#include "cnnnative/errors.h"
#include "cnnnative/gemm.h"
#include "cnnnative/winograd.h"
#include "engine/kernels.h"

namespace cnnnative {
namespace engine {

void configure_gemm_tiles(Node& n) {
  const ConvParams& p = n.conv;
  const int64_t kg = p.outputs_per_group();
  const int64_t cols = p.output_h() * p.output_w();
  // Tiles: about 64 output channels by 128 pixels; a small image stays one column block
  // so its weights are streamed once.
  n.tile_m = std::min<int64_t>(kg, 64);
  n.tile_n = cols <= 256 ? cols : 128;
}

void configure_scratch(Node& n, int threads) {
  n.scratch_bytes = 0;
  if (n.kind == OpKind::conv && n.method == ConvMethod::im2col_gemm) {
    const ConvParams& p = n.conv;
    n.scratch_bytes = checked_numel({p.channels_per_group(), p.R, p.S, p.output_h(), p.output_w(),
                                     int64_t(sizeof(float))}, "im2col workspace");
  }
}

namespace {

// Row `row` = (c, r, s) of the unfolded matrix: for each output pixel, the input value
// the kernel tap (r, s) of channel c sees there (0 in the padding).
void im2col_row(const ConvParams& p, const float* x, int64_t row, float* dst) {
  const int64_t OH = p.output_h(), OW = p.output_w();
  const int64_t s = row % p.S, r = (row / p.S) % p.R, c = row / (p.R * p.S);
  const float* xc = x + c * p.H * p.W;
  // Output columns whose input column lies inside the image: [ow_lo, ow_hi).
  const int64_t shift = s * p.dilation_w - p.pad_left;  // iw = ow * stride + shift
  int64_t ow_lo = shift >= 0 ? 0 : (-shift + p.stride_w - 1) / p.stride_w;
  int64_t ow_hi = (p.W - 1 - shift) < 0 ? 0 : (p.W - 1 - shift) / p.stride_w + 1;
  ow_lo = std::min(ow_lo, OW);
  ow_hi = std::min(std::max(ow_hi, ow_lo), OW);
  for (int64_t oh = 0; oh < OH; ++oh) {
    float* d = dst + oh * OW;
    const int64_t ih = oh * p.stride_h - p.pad_top + r * p.dilation_h;
    if (ih < 0 || ih >= p.H) {
      std::memset(d, 0, sizeof(float) * OW);
      continue;
    }
    const float* src = xc + ih * p.W + shift;
    for (int64_t ow = 0; ow < ow_lo; ++ow) d[ow] = 0.f;
    if (p.stride_w == 1) {
      std::memcpy(d + ow_lo, src + ow_lo, sizeof(float) * (ow_hi - ow_lo));
    } else {
      for (int64_t ow = ow_lo; ow < ow_hi; ++ow) d[ow] = src[ow * p.stride_w];
    }
    for (int64_t ow = ow_hi; ow < OW; ++ow) d[ow] = 0.f;
  }
}

GemmEpilogue gemm_activation(Activation a) {
  return a == Activation::relu ? GemmEpilogue::relu() : a == Activation::relu6 ? GemmEpilogue::relu6()
                                                                               : GemmEpilogue::none();
}

template <Activation A>
void add_residual_tile(float* y, const float* res, int64_t rows, int64_t cols, int64_t ld) {
  for (int64_t m = 0; m < rows; ++m) {
    float* yr = y + m * ld;
    const float* rr = res + m * ld;
    for (int64_t j = 0; j < cols; ++j) {
      float v = yr[j] + rr[j];
      if (A == Activation::relu) v = v > 0.f ? v : 0.f;
      if (A == Activation::relu6) v = std::min(std::max(v, 0.f), 6.f);
      yr[j] = v;
    }
  }
}

// y = act(y + residual) on one output tile.
void add_residual(Activation a, float* y, const float* res, int64_t rows, int64_t cols, int64_t ld) {
  switch (a) {
    case Activation::relu: add_residual_tile<Activation::relu>(y, res, rows, cols, ld); break;
    case Activation::relu6: add_residual_tile<Activation::relu6>(y, res, rows, cols, ld); break;
    default: add_residual_tile<Activation::none>(y, res, rows, cols, ld); break;
  }
}

}  // namespace

void conv_forward(const Node& n, int64_t batch, const float* x, const float* residual, float* y,
                  float* scratch, int threads) {
  if (n.method == ConvMethod::depthwise) {
    depthwise_forward(n, batch, x, residual, y, threads);
    return;
  }
  if (n.method == ConvMethod::winograd) {
    ConvParams p = n.conv;
    p.N = batch;
    ConvEpilogue ep;
    ep.bias = n.bias.data();
    ep.residual = residual;
    ep.activation = static_cast<cnnnative::Activation>(static_cast<int>(n.act));
    winograd_forward_prepared(p, *n.winograd_weights, x, y, ep);
    return;
  }
  const ConvParams& p = n.conv;
  const int64_t G = p.groups, Cg = p.channels_per_group(), Kg = p.outputs_per_group();
  const int64_t P = p.output_h() * p.output_w(), HW = p.H * p.W;
  const int64_t depth = Cg * p.R * p.S;
  const int64_t tm = n.tile_m, tn = n.tile_n;
  const int64_t mtiles = (Kg + tm - 1) / tm, ntiles = (P + tn - 1) / tn, tiles = mtiles * ntiles;
  const bool unfold = n.method == ConvMethod::im2col_gemm;
  const float* w = n.weight.data();
  const float* bias = n.bias.data();

#pragma omp parallel num_threads(threads)
  for (int64_t img = 0; img < batch; ++img) {
    for (int64_t g = 0; g < G; ++g) {
      const float* xg = x + (img * p.C + g * Cg) * HW;
      const float* B = xg;  // 1x1: the image (Cg x HW) is already the GEMM's B
      if (unfold) {
#pragma omp for schedule(static)
        for (int64_t row = 0; row < depth; ++row) im2col_row(p, xg, row, scratch + row * P);
        B = scratch;  // the loop's implicit barrier makes the whole matrix visible
      }
      const int64_t ybase = (img * p.K + g * Kg) * P;
#pragma omp for schedule(dynamic, 1)
      for (int64_t t = 0; t < tiles; ++t) {
        const int64_t m0 = (t / ntiles) * tm, n0 = (t % ntiles) * tn;
        const int64_t rows = std::min(tm, Kg - m0), cols = std::min(tn, P - n0);
        float* yt = y + ybase + m0 * P + n0;
        // Bias and (without a residual) the activation are applied by the GEMM itself while
        // the tile is in registers; a residual is added right after, while the tile is in cache.
        GemmEpilogue ep = residual ? GemmEpilogue::none() : gemm_activation(n.act);
        ep.row_bias = bias + g * Kg + m0;
        sgemm_ex_single_thread(false, false, rows, cols, depth, 1.f, w + (g * Kg + m0) * depth, depth, B + n0, P,
                               0.f, yt, P, ep);
        if (residual) add_residual(n.act, yt, residual + ybase + m0 * P + n0, rows, cols, P);
      }
      // implicit barrier: the next image may overwrite the scratch
    }
  }
}

}  // namespace engine
}  // namespace cnnnative
