// bf16 convolutions and linear layers (Plan::set_precision(Precision::bf16)).
//
// The weights are rounded to bf16 and packed once (gemm/sbgemm.h: pairs of the depth
// interleaved for vdpbf16ps); the activations are rounded while they are packed, per
// call; every tile is summed over the whole depth in fp32 registers and written once.
// Two orientations, chosen per conv at build time by its output size:
//
// - small images (< 1024 output pixels: ResNet's 28x28 and below) as the transposed product,
//   as gemm_prepacked does (conv_prepacked.cc),
//     Y^T (pixels x out channels) = bf16(unfold^T) (pixels x C*R*S) * bf16(W)^T,
//   pixels on the microkernel's broadcast side, 14 at a time (7 divides every ResNet image
//   size; remainders get their own tile shape, so nothing is padded), W in 32-channel
//   panels; each item's pixels x chunk buffer is then written transposed into NCHW with
//   bias, residual and activation.
// - large images: output channels on the broadcast side (W packed as 14-row panels),
//   pixels on the vector side in 32-pixel panels, so the tiles are NCHW rows written
//   straight into the output; bias, residual and activation then run over the item's rows
//   while they are in cache.
//
// Work items are (image, group, pixel block, channel chunk). An item packs its pixel block
// for the WHOLE depth -- the 1x1 image or im2col rows, kUnfoldRows rows at a time -- and
// keeps it while the same thread takes another chunk of that block.
//
// Which convs (bf16_conv_eligible): all but three kinds, which stay fp32 --
// depthwise (memory bound, a few multiply-adds per value), the stem (few input channels:
// the fp32 direct kernel is faster) and 3x3 stride-1 convs that the fp32 heuristic gives
// Winograd F(4x4): fp32 Winograd does a quarter of the multiplies and beats the bf16 GEMM,
// while Winograd on bf16 inputs would lose too much accuracy (its transforms amplify
// rounding). algo="gemm" (never Winograd) runs every non-depthwise conv in bf16.
// Transposed convs stay fp32.
//
// Without AVX512-BF16 (or with the active ISA below avx512) the node rounds its input
// and unpacks its rounded weights, then runs the fp32 im2col / 1x1 GEMM path on them:
// the same bf16 products, summed in another order, at fp32 speed -- a fallback so that
// a bf16 plan gives the same answers on every x86, not a fast path.

#include <algorithm>

#include "cnnnative/errors.h"
#include "cnnnative/thread_pool.h"
#include "cnnnative/winograd.h"
#include "engine/kernels.h"
#include "gemm/sbgemm.h"

namespace cnnnative {
namespace engine {

int64_t conv_scratch_floats(const Node& n, int threads);  // conv_node.cc

namespace {

constexpr int64_t kUnfoldRows = 256;          // im2col rows per pass when packing (even)
constexpr int64_t kBlockBytes = 512 * 1024;   // packed pixel block (stays in L2 for every chunk)
constexpr int64_t kProductBytes = 256 * 1024; // fp32 pixels x chunk buffer
constexpr int64_t kMaxBlock = 16 * bf16::kMR; // pixels per block at most
// Images of at least this many output pixels run in the other orientation: output channels
// on the broadcast side (W packed as rows), pixels on the vector side, so the tiles are
// NCHW rows written straight into the output -- no pixels x channels buffer to transpose,
// which cost ~25% on ResNet-50's 56x56 1x1 convs (K = 64 deep).
constexpr int64_t kRowsMinPixels = 1024;
constexpr int64_t kMaxRowsBlock = 16 * bf16::kNR;  // pixels per block at most, rows orientation

int64_t round_up(int64_t v, int64_t m) { return (v + m - 1) / m * m; }

struct ThreadScratch {
  int64_t packed, unfold, product;  // floats (a packed dword is one float's room)
  int64_t total() const { return packed + unfold + product; }
};

bool rows_layout(const Node& n) { return n.bf16_weights->groups.front().as_rows(); }

ThreadScratch scratch_layout(const Node& n) {
  const ConvParams& p = n.conv;
  const int64_t depth = p.channels_per_group() * p.R * p.S;
  const bool rows = rows_layout(n);
  ThreadScratch s;
  s.packed = round_up(rows ? bf16::packed_b_dwords(n.bf16_block, depth) : bf16::packed_a_dwords(n.bf16_block, depth),
                      16);
  s.unfold = conv_is_plain_1x1(p) ? 0 : round_up(std::min(kUnfoldRows, depth) * n.bf16_block, 16);
  s.product = rows ? 0 : round_up(checked_mul(n.bf16_block, n.bf16_chunk, "bf16 conv workspace"), 16);
  return s;
}

// y[r][j] = act(y[r][j] + bias[r] (+ res[r][j])) on an NCHW tile (rows channels, cols pixels).
template <Activation A>
void finish_rows(float* y, const float* res, const float* bias, int64_t rows, int64_t cols, int64_t ld) {
  for (int64_t r = 0; r < rows; ++r) {
    float* yr = y + r * ld;
    const float b = bias ? bias[r] : 0.f;
    if (res) {
      const float* rr = res + r * ld;
      for (int64_t j = 0; j < cols; ++j) yr[j] = activate(yr[j] + b + rr[j], A);
    } else {
      for (int64_t j = 0; j < cols; ++j) yr[j] = activate(yr[j] + b, A);
    }
  }
}

void finish(Activation a, float* y, const float* res, const float* bias, int64_t rows, int64_t cols, int64_t ld) {
  switch (a) {
    case Activation::relu: finish_rows<Activation::relu>(y, res, bias, rows, cols, ld); break;
    case Activation::relu6: finish_rows<Activation::relu6>(y, res, bias, rows, cols, ld); break;
    default: finish_rows<Activation::none>(y, res, bias, rows, cols, ld); break;
  }
}

// The fallback: bf16-rounded input and weights through the fp32 GEMM path.
void emulated_conv_forward(const Node& n, int64_t batch, const float* x, const float* residual, float* y,
                           int threads) {
  const ConvParams& p = n.conv;
  const int64_t Kg = p.outputs_per_group(), depth = p.channels_per_group() * p.R * p.S;
  std::vector<float> xr(size_t(batch * p.C * p.H * p.W));
  bf16::round_array(x, xr.data(), int64_t(xr.size()));
  Node t = n;
  t.bf16_weights.reset();
  t.method = conv_is_plain_1x1(p) ? ConvMethod::gemm_1x1 : ConvMethod::im2col_gemm;
  t.weight.assign(size_t(p.weight_numel()), 0.f);
  for (int64_t g = 0; g < p.groups; ++g) n.bf16_weights->groups[size_t(g)].unpack(t.weight.data() + g * Kg * depth, depth);
  std::vector<float> scratch(size_t(conv_scratch_floats(t, threads)) + 16);
  conv_forward(t, batch, xr.data(), residual, y, scratch.data(), threads);
}

}  // namespace

bool bf16_conv_eligible(const ConvParams& p, ConvChoice choice) {
  if (p.groups > 1 && p.groups == p.C && p.groups == p.K) return false;  // depthwise
  // The stem (few input channels): the fp32 direct kernel was measured faster than the
  // bf16 im2col GEMM (ResNet-50's 7x7/2: 140 vs 92 GFLOP/s on one Zen 4 core), whose
  // unfold of 3 channels costs more than its multiply. Strided 3x3 convs with >= 16
  // channels go bf16 (64 -> 128 3x3/2: 121 vs 93).
  if (choice != ConvChoice::gemm && p.C < 16 && direct_smallc_preferred(p)) return false;
  // Where the fp32 heuristic takes Winograd F(4x4) (3x3 stride 1, enough tiles), fp32
  // Winograd beats the bf16 GEMM (1.2-1.4x on ResNet-50's 56/28/14 stages) and is the more
  // accurate; F(2x2) (the 7x7 stage at batch 1) is slower than bf16 (1.17x), which takes it.
  if (choice != ConvChoice::gemm && p.groups == 1 && p.C >= 16 && p.K >= 16 && winograd_supports(p, 4, nullptr)) {
    const int64_t tiles = std::max<int64_t>(p.N, 1) * ((p.output_h() + 3) / 4) * ((p.output_w() + 3) / 4);
    if (tiles >= 16) return false;
  }
  return true;
}

void use_bf16_conv(Node& n) {
  const ConvParams& p = n.conv;
  const int64_t Kg = p.outputs_per_group(), depth = p.channels_per_group() * p.R * p.S;
  auto w = std::make_shared<Bf16Weights>();
  w->groups.reserve(size_t(p.groups));
  // W of group g is Kg x depth (OIHW rows): the n x k operand, packed as is -- as rows (the
  // broadcast side) for large images, else as columns.
  const bool rows = p.output_h() * p.output_w() >= kRowsMinPixels;
  for (int64_t g = 0; g < p.groups; ++g)
    w->groups.emplace_back(n.weight.data() + g * Kg * depth, depth, Kg, depth, rows);
  n.bf16_weights = std::move(w);
  n.method = conv_is_plain_1x1(p) ? ConvMethod::gemm_1x1 : ConvMethod::im2col_gemm;  // what it computes
  n.weight.clear();
  n.weight.shrink_to_fit();
}

void use_bf16_linear(Node& n) {
  auto w = std::make_shared<Bf16Weights>();
  w->groups.emplace_back(n.weight.data(), n.in_features, n.out_features, n.in_features);
  n.bf16_weights = std::move(w);
  n.weight.clear();
  n.weight.shrink_to_fit();
}

int64_t bf16_weights_bytes(const Node& n) { return n.bf16_weights ? n.bf16_weights->bytes() : 0; }

void configure_bf16_conv(Node& n, int threads) {
  const ConvParams& p = n.conv;
  const int64_t pixels = std::max<int64_t>(1, p.output_h() * p.output_w());
  const int64_t depth = std::max<int64_t>(1, p.channels_per_group() * p.R * p.S);
  const int64_t images = std::max<int64_t>(p.N, 1) * p.groups;
  const int64_t mr = bf16::kMR, nr = bf16::kNR;
  if (rows_layout(n)) {
    // Pixel blocks of whole 32-pixel panels, packed depth within kBlockBytes; channel chunks
    // of whole 14-row W panels when the team needs more pieces.
    int64_t block = std::max<int64_t>(nr, std::min(kMaxRowsBlock, kBlockBytes / (4 * ((depth + 1) / 2)) / nr * nr));
    block = std::min(block, round_up(pixels, nr));
    const int64_t nblocks = (pixels + block - 1) / block;
    const int64_t row_panels = (p.outputs_per_group() + mr - 1) / mr;
    const int64_t pieces = images * nblocks;
    int64_t chunks = pieces >= 2 * threads ? 1 : (2 * threads + pieces - 1) / pieces;
    chunks = std::max<int64_t>(1, std::min(chunks, row_panels));
    n.bf16_block = block;
    n.bf16_chunk = (row_panels + chunks - 1) / chunks * mr;
    const int64_t native = checked_mul(int64_t(threads), scratch_layout(n).total(), "bf16 conv workspace");
    n.scratch_bytes = checked_mul(native, int64_t(sizeof(float)), "bf16 conv workspace");
    return;
  }
  // Pixel block: its packed depth (4 bytes per pixel and pair) within kBlockBytes, in whole
  // MR panels, at most kMaxBlock pixels; a small image stays whole if it fits.
  int64_t block = std::max<int64_t>(mr, std::min(kMaxBlock, kBlockBytes / (4 * ((depth + 1) / 2)) / mr * mr));
  int64_t nblocks = (pixels + block - 1) / block;
  // Fewer pieces than threads (batch 1): cut the image into a block per thread while each
  // keeps >= 4 panels, so no two threads pack the same pixels.
  const int64_t panels = (pixels + mr - 1) / mr;
  if (images * nblocks < threads) nblocks = std::max(nblocks, std::min(panels / 4, (threads + images - 1) / images));
  block = std::min(pixels, round_up((pixels + nblocks - 1) / nblocks, mr));
  nblocks = (pixels + block - 1) / block;
  // Channel chunks of whole panels: enough pieces for the team, and the product buffer
  // (block x chunk floats) within kProductBytes.
  const int64_t col_panels = (p.outputs_per_group() + nr - 1) / nr;
  const int64_t pieces = images * nblocks;
  int64_t chunks = pieces >= 2 * threads ? 1 : (2 * threads + pieces - 1) / pieces;
  const int64_t max_chunk_panels = std::max<int64_t>(1, kProductBytes / (4 * block * nr));
  chunks = std::max(chunks, (col_panels + max_chunk_panels - 1) / max_chunk_panels);
  chunks = std::max<int64_t>(1, std::min(chunks, col_panels));
  n.bf16_block = block;
  n.bf16_chunk = (col_panels + chunks - 1) / chunks * nr;
  const int64_t native = checked_mul(int64_t(threads), scratch_layout(n).total(), "bf16 conv workspace");
  n.scratch_bytes = checked_mul(native, int64_t(sizeof(float)), "bf16 conv workspace");
}

void bf16_conv_forward(const Node& n, int64_t batch, const float* x, const float* residual, float* y,
                       float* scratch, int threads) {
  if (!bf16::native() || !scratch) {
    emulated_conv_forward(n, batch, x, residual, y, threads);
    return;
  }
  const std::vector<bf16::PackedWeights>& weights = n.bf16_weights->groups;
  const ConvParams& p = n.conv;
  const int64_t G = p.groups, Cg = p.channels_per_group(), Kg = p.outputs_per_group();
  const int64_t P = p.output_h() * p.output_w(), HW = p.H * p.W;
  const int64_t depth = Cg * p.R * p.S;
  const int64_t pb = n.bf16_block, chunk = n.bf16_chunk;
  const int64_t nblocks = (P + pb - 1) / pb, nchunks = (Kg + chunk - 1) / chunk;
  const int64_t blocks = batch * G * nblocks;
  const bool plain_1x1 = conv_is_plain_1x1(p);
  const ThreadScratch layout = scratch_layout(n);
  const Activation stored = stored_part(n.act);
  const ActivationPass pass = node_activation_pass(n);
  const bool rows_out = rows_layout(n);

  DynamicChunks items(blocks * nchunks, 1);
  run_team(threads, [&](int tid, int) {
    float* mine = scratch + int64_t(tid) * layout.total();
    uint32_t* packed = reinterpret_cast<uint32_t*>(mine);
    float* unfold = mine + layout.packed;
    float* product = unfold + layout.unfold;
    int64_t packed_block = -1;
    int64_t item, item_end;
    while (items.next(&item, &item_end)) {
      const int64_t block = item % blocks, mt = item / blocks;
      const int64_t cb = block % nblocks, g = (block / nblocks) % G, img = block / (nblocks * G);
      const int64_t n0 = cb * pb, cols = std::min(pb, P - n0);
      const int64_t m0 = mt * chunk, rows = std::min(chunk, Kg - m0);
      const float* xg = x + (img * p.C + g * Cg) * HW;
      if (rows_out) {  // channels x pixels tiles straight into the NCHW output
        if (packed_block != block) {
          for (int64_t k0 = 0; k0 < depth; k0 += kUnfoldRows) {
            const int64_t kb = std::min(kUnfoldRows, depth - k0);
            if (plain_1x1) {
              bf16::pack_b_kxn(xg + k0 * HW + n0, HW, k0, kb, cols, depth, packed);
            } else {
              im2col_rows(p, xg, k0, kb, n0, cols, unfold);
              bf16::pack_b_kxn(unfold, cols, k0, kb, cols, depth, packed);
            }
          }
          packed_block = block;
        }
        const int64_t yoff = (img * p.K + g * Kg + m0) * P + n0;
        bf16::multiply_rows(weights[size_t(g)], m0, rows, packed, cols, y + yoff, P);
        finish(stored, y + yoff, residual ? residual + yoff : nullptr, n.bias.empty() ? nullptr : n.bias.data() + g * Kg + m0,
               rows, cols, P);
        pass.apply_rows(y + yoff, rows, cols, P, g * Kg + m0);
        continue;
      }
      if (packed_block != block) {
        for (int64_t k0 = 0; k0 < depth; k0 += kUnfoldRows) {
          const int64_t kb = std::min(kUnfoldRows, depth - k0);
          if (plain_1x1) {
            bf16::pack_a_kxm(xg + k0 * HW + n0, HW, k0, kb, cols, depth, packed);
          } else {
            im2col_rows(p, xg, k0, kb, n0, cols, unfold);
            bf16::pack_a_kxm(unfold, cols, k0, kb, cols, depth, packed);
          }
        }
        packed_block = block;
      }
      const bf16::PackedWeights& w = weights[size_t(g)];
      const int64_t q0 = m0 / bf16::kNR, q1 = (m0 + rows + bf16::kNR - 1) / bf16::kNR;
      bf16::multiply(packed, cols, w, q0, q1, product, chunk);
      const int64_t yoff = (img * p.K + g * Kg + m0) * P + n0;
      const float* bias = n.bias.empty() ? nullptr : n.bias.data() + g * Kg + m0;
      const float* res = residual ? residual + yoff : nullptr;
      store_transposed__avx512(stored, product, chunk, cols, rows, bias, res, y + yoff, P);
      pass.apply_rows(y + yoff, rows, cols, P, g * Kg + m0);
    }
  });
}

}  // namespace engine
}  // namespace cnnnative
