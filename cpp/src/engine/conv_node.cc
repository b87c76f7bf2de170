// Convolution nodes: im2col (or the image itself for 1x1) + GEMM, tile by tile, with
// the epilogue (bias, residual, activation) applied to each output tile right after
// the GEMM wrote it, while it is still in cache -- no separate pass over the output.
//
// The output of each image and group (Kg x OH*OW) is cut into column blocks of tile_n
// pixels (and, when that gives too few pieces to keep every thread busy, into row blocks
// of tile_m channels). Each thread unfolds the column block it works on into its own
// scratch (Cg*R*S x tile_n, sized to stay in L2) and multiplies it with the weights,
// so the whole convolution is ONE parallel loop with one barrier at its end -- on a busy
// machine every barrier can cost a scheduler slice. Weights are the GEMM's A
// (Kg x Cg*R*S, exactly OIHW memory), so no re-layout is needed; BatchNorm was folded
// into them.

#include <cstring>

#include "cnnnative/errors.h"
#include "cnnnative/gemm.h"
#include "cnnnative/winograd.h"
#include "conv/winograd1d.h"
#include "conv/grouped_cblock.h"
#include "engine/kernels.h"

namespace cnnnative {
namespace engine {

void configure_gemm_tiles(Node& n, int threads) {
  const ConvParams& p = n.conv;
  const int64_t kg = p.outputs_per_group();
  const int64_t cols = p.output_h() * p.output_w();
  const int64_t depth = p.channels_per_group() * p.R * p.S;
  // Column block: the unfolded block (depth x tile_n floats) within ~1 MiB (L2), but
  // at least 64 pixels (narrower GEMMs waste the microkernel), and a small image (deep
  // layers) stays whole so its weights are streamed once.
  int64_t tn = std::max<int64_t>(64, ((256 * 1024) / std::max<int64_t>(depth, 1)) / 16 * 16);
  tn = cols <= 256 ? cols : std::min<int64_t>(std::min<int64_t>(tn, 512), cols);
  const int64_t pieces = std::max<int64_t>(p.N, 1) * p.groups * ((cols + tn - 1) / tn);
  // Too few pieces for the team: split the channels too (each row block of the same
  // column block repeats its unfold, which is cheap next to the GEMM).
  int64_t mblocks = std::max<int64_t>(1, (2 * threads + pieces - 1) / pieces);
  mblocks = std::min<int64_t>(mblocks, std::max<int64_t>(1, kg / 16));
  n.tile_n = tn;
  n.tile_m = (kg + mblocks - 1) / mblocks;
}

int64_t conv_scratch_floats(const Node& n, int threads) {
  const ConvParams& p = n.conv;
  if (n.method == ConvMethod::direct_smallc || n.method == ConvMethod::direct_smallc_wino)
    return direct_smallc_scratch_floats(n, threads);
  if (n.method == ConvMethod::winograd1d) {
    const size_t bytes = winograd1d::prepared_workspace_bytes(p, n.winograd_tile, threads);
    return static_cast<int64_t>((bytes + sizeof(float) - 1) / sizeof(float));
  }
  if (n.method == ConvMethod::winograd) {
    // The transformed tiles of one chunk, for the planned batch and thread count (a call
    // with fewer images or threads needs no more).
    const size_t bytes = winograd_prepared_workspace_bytes(p, n.winograd_tile, threads);
    return static_cast<int64_t>((bytes + sizeof(float) - 1) / sizeof(float));
  }
  // gemm_prepacked keeps the im2col workspace too, for a call under another ISA.
  const int64_t prepacked = n.method == ConvMethod::gemm_prepacked ? prepacked_scratch_floats(n, threads) : 0;
  const bool unfolds = n.method == ConvMethod::im2col_gemm ||
                       (n.method == ConvMethod::gemm_prepacked && !conv_is_plain_1x1(p));
  if (!unfolds) return prepacked;
  return std::max(prepacked,
                  checked_numel({int64_t(threads), p.channels_per_group(), p.R, p.S, n.tile_n}, "im2col workspace"));
}

void configure_scratch(Node& n, int threads) {
  n.scratch_bytes = 0;
  if (n.kind == OpKind::conv_transpose) n.scratch_bytes = conv_transpose_scratch_bytes(n);
  if (n.kind != OpKind::conv) return;
  configure_gemm_tiles(n, threads);
  if (n.bf16_weights) {
    configure_bf16_conv(n, threads);
    return;
  }
  if (n.method == ConvMethod::gemm_prepacked) configure_prepacked_tiles(n, threads);
  n.scratch_bytes = checked_mul(conv_scratch_floats(n, threads), int64_t(sizeof(float)), "conv workspace");
}

// Rows [row0, row0 + rows) and columns [n0, n0 + cols) of the unfolded matrix (rows
// (c, r, s), columns output pixels), into dst (rows x cols, row-major): for each pixel,
// the input value the kernel tap (r, s) of channel c sees there (0 in the padding).
void im2col_rows(const ConvParams& p, const float* x, int64_t row0, int64_t rows, int64_t n0, int64_t cols,
                 float* dst) {
  const int64_t OW = p.output_w();
  for (int64_t row = row0; row < row0 + rows; ++row) {
    const int64_t s = row % p.S, r = (row / p.S) % p.R, c = row / (p.R * p.S);
    const float* xc = x + c * p.H * p.W;
    // Output columns whose input column lies inside the image: [ow_lo, ow_hi).
    const int64_t shift = s * p.dilation_w - p.pad_left;  // iw = ow * stride + shift
    int64_t ow_lo = shift >= 0 ? 0 : (-shift + p.stride_w - 1) / p.stride_w;
    int64_t ow_hi = (p.W - 1 - shift) < 0 ? 0 : (p.W - 1 - shift) / p.stride_w + 1;
    ow_lo = std::min(ow_lo, OW);
    ow_hi = std::min(std::max(ow_hi, ow_lo), OW);
    float* d = dst + (row - row0) * cols;
    int64_t j = n0, end = n0 + cols;
    while (j < end) {
      const int64_t oh = j / OW, ow0 = j % OW, ow1 = std::min(OW, ow0 + (end - j));
      const int64_t ih = oh * p.stride_h - p.pad_top + r * p.dilation_h;
      if (ih < 0 || ih >= p.H) {
        std::memset(d, 0, sizeof(float) * (ow1 - ow0));
      } else {
        const float* src = xc + ih * p.W + shift;
        const int64_t a = std::max(ow0, ow_lo), b = std::min(ow1, ow_hi);
        for (int64_t ow = ow0; ow < std::min(ow1, a); ++ow) d[ow - ow0] = 0.f;
        if (p.stride_w == 1) {
          if (b > a) std::memcpy(d + (a - ow0), src + a, sizeof(float) * (b - a));
        } else {
          for (int64_t ow = a; ow < b; ++ow) d[ow - ow0] = src[ow * p.stride_w];
        }
        for (int64_t ow = std::max(b, ow0); ow < ow1; ++ow) d[ow - ow0] = 0.f;
      }
      d += ow1 - ow0;
      j += ow1 - ow0;
    }
  }
}

bool conv_is_plain_1x1(const ConvParams& p) {
  return p.R == 1 && p.S == 1 && p.stride_h == 1 && p.stride_w == 1 && p.pad_top == 0 && p.pad_bottom == 0 &&
         p.pad_left == 0 && p.pad_right == 0;
}

namespace {

// All rows of columns [n0, n0 + cols) of the unfolded matrix (depth x cols).
void im2col_block(const ConvParams& p, const float* x, int64_t n0, int64_t cols, float* dst) {
  im2col_rows(p, x, 0, p.channels_per_group() * p.R * p.S, n0, cols, dst);
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
      v = activate(v, A);  // keeps NaN
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
  if (n.bf16_weights) {
    bf16_conv_forward(n, batch, x, residual, y, scratch, threads);
    return;
  }
  if (n.method == ConvMethod::depthwise) {
    depthwise_forward(n, batch, x, residual, y, threads);
    return;
  }
  if (n.method == ConvMethod::direct_smallc || n.method == ConvMethod::direct_smallc_wino) {
    direct_smallc_forward(n, batch, x, residual, y, scratch, threads);
    return;
  }
  if (n.method == ConvMethod::winograd) {
    ConvParams p = n.conv;
    p.N = batch;
    const ConvEpilogue ep = conv_epilogue(n, residual);
    // The arena's workspace (planned in configure_scratch) when there is one: no allocation.
    if (scratch)
      winograd_forward_prepared(p, *n.winograd_weights, x, y, ep, scratch, size_t(n.scratch_bytes), threads);
    else
      winograd_forward_prepared(p, *n.winograd_weights, x, y, ep);
    return;
  }
  if (n.method == ConvMethod::winograd1d) {
    ConvParams p = n.conv;
    p.N = batch;
    winograd1d::forward_prepared(p, *n.winograd_weights, x, y, conv_epilogue(n, residual), scratch,
                                 scratch ? size_t(n.scratch_bytes) : 0, threads);
    return;
  }
  if (n.method == ConvMethod::gemm_prepacked && prepacked_conv_forward(n, batch, x, residual, y, scratch, threads))
    return;
  if (n.method == ConvMethod::im2col_gemm && grouped::use_channel_blocks(n.conv)) {
    // Small groups (ResNeXt, RegNet): 16 channels per vector (conv/grouped_cblock.h).
    const ConvParams& q = n.conv;
    const ActivationPass pass = node_activation_pass(n);
    const int64_t OW = q.output_w(), P = q.output_h() * OW;
    grouped::forward(q, batch, x, n.weight.data(), n.bias.data(), residual, y, static_cast<int>(stored_part(n.act)),
                     threads, [&](float* y_img, int64_t c0, int nc, int64_t oh0, int64_t oh1) {
                       pass.apply_rows(y_img + c0 * P + oh0 * OW, nc, (oh1 - oh0) * OW, P, c0);
                     });
    return;
  }
  const ConvParams& p = n.conv;
  const int64_t G = p.groups, Cg = p.channels_per_group(), Kg = p.outputs_per_group();
  const int64_t P = p.output_h() * p.output_w(), HW = p.H * p.W;
  const int64_t depth = Cg * p.R * p.S;
  const int64_t tm = n.tile_m, tn = n.tile_n;
  const int64_t mtiles = (Kg + tm - 1) / tm, ntiles = (P + tn - 1) / tn;
  const int64_t blocks = batch * G * ntiles;  // (image, group, column block)
  const bool unfold = !conv_is_plain_1x1(p);  // im2col_gemm, or gemm_prepacked under another ISA
  // gemm_prepacked here runs under another ISA than its weights were packed for (tests
  // switch ISAs at run time): the OIHW weights are rebuilt from the packed copy.
  std::vector<float> unpacked;
  if (n.method == ConvMethod::gemm_prepacked) unpacked = unpack_prepacked_weights(n);
  const float* w = n.method == ConvMethod::gemm_prepacked ? unpacked.data() : n.weight.data();
  const float* bias = n.bias.data();
  const Activation stored = stored_part(n.act);
  const ActivationPass pass = node_activation_pass(n);

  // Dynamic: a thread that starts late (busy machine) takes fewer items instead of holding
  // everyone at the end. Consecutive items share a column block, so a thread taking
  // neighbours skips the unfold.
  DynamicChunks items(blocks * mtiles, 1);
  run_team(threads, [&](int tid, int) {
    float* mine = unfold ? scratch + int64_t(tid) * depth * tn : nullptr;
    int64_t unfolded = -1;  // the block `mine` holds
    int64_t item, item_end;
    while (items.next(&item, &item_end)) {
      const int64_t block = item / mtiles, mt = item % mtiles;
      const int64_t cb = block % ntiles, g = (block / ntiles) % G, img = block / (ntiles * G);
      const int64_t n0 = cb * tn, cols = std::min(tn, P - n0);
      const int64_t m0 = mt * tm, rows = std::min(tm, Kg - m0);
      const float* xg = x + (img * p.C + g * Cg) * HW;
      const float* B = xg + n0;  // 1x1: the image (Cg x HW) is already the GEMM's B
      int64_t ldb = P;
      if (unfold) {
        if (unfolded != block) {
          im2col_block(p, xg, n0, cols, mine);
          unfolded = block;
        }
        B = mine;
        ldb = cols;
      }
      const int64_t yoff = (img * p.K + g * Kg + m0) * P + n0;
      // Bias and (without a residual) the activation are applied by the GEMM itself while
      // the tile is in registers; a residual is added right after, while the tile is in cache.
      // Any other activation runs over the tile right after, still in cache.
      GemmEpilogue ep = residual ? GemmEpilogue::none() : gemm_activation(stored);
      ep.row_bias = bias + g * Kg + m0;
      sgemm_ex_single_thread(false, false, rows, cols, depth, 1.f, w + (g * Kg + m0) * depth, depth, B, ldb, 0.f,
                             y + yoff, P, ep);
      if (residual) add_residual(stored, y + yoff, residual + yoff, rows, cols, P);
      pass.apply_rows(y + yoff, rows, cols, P, g * Kg + m0);
    }
  });
}

}  // namespace engine
}  // namespace cnnnative
