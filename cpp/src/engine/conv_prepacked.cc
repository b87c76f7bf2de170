// The gemm_prepacked convolution: small images with many channels (ResNet's 14x14 and
// 7x7 stages), computed as the transposed product
//
//   Y^T (pixels x out channels) = unfold^T (pixels x C*R*S) * W^T (C*R*S x out channels)
//
// Why transposed: with 49 output pixels and 512 channels, putting the pixels on the
// microkernel's vector side (im2col_gemm) pads 49 to 64 columns, while on its row side
// a 7-row tile pads nothing (ResNet's pixel counts are all multiples of 7) -- and W^T
// is the side the GEMM packs into panels, which here happens ONCE at build time
// (gemm/prepacked.h) instead of on every call (the weights of a 7x7 stage conv are
// 9.4 MB; repacking them per call cost about a third of the multiply).
//
// Work items are (image, group, pixel block, channel chunk). An item unfolds its pixel
// block KC rows at a time into MR-pixel panels for the whole depth (AVX-512: straight
// into the panels, conv_prepacked_unfold__avx512.cc; else im2col rows, then packed),
// kept while the same thread takes another chunk of that block; multiplies it into a
// pixels x chunk buffer, KC block by KC block; and finally writes that buffer
// transposed into the NCHW output with bias, residual and activation. One image on
// several threads is cut into a pixel block per thread when each keeps enough panels,
// else into channel chunks, and then each thread unfolds the whole image (~3% of the
// multiply for 512 x 7x7) rather than meet the others at a barrier.

#include <cstdlib>
#include <cstring>
#include <string>

#include "cnnnative/errors.h"
#include "cnnnative/isa.h"
#include "engine/kernels.h"
#include "gemm/prepacked.h"

namespace cnnnative {
namespace engine {
namespace {

// Floats of one pixel block's packed unfold (C*R*S x block): ~1 MB, so that it stays in
// L2 while every channel chunk streams past it.
constexpr int64_t kBlockFloats = int64_t{1} << 18;

int64_t round_up(int64_t v, int64_t m) { return (v + m - 1) / m * m; }

// Scratch per thread, in floats (each part 64-byte aligned).
struct ThreadScratch {
  int64_t packed, unfold, product;  // sizes
  int64_t total() const { return packed + unfold + product; }
};

ThreadScratch scratch_layout(const Node& n) {
  const ConvParams& p = n.conv;
  const PrepackedB& b = n.prepacked->front();
  const int64_t depth = p.channels_per_group() * p.R * p.S;
  const int64_t rows = b.padded_rows(n.prepacked_block);
  ThreadScratch s;
  s.packed = round_up(checked_mul(depth, rows, "prepacked conv workspace"), 16);
  s.unfold = conv_is_plain_1x1(p) ? 0 : round_up(std::min(b.kc(), depth) * n.prepacked_block, 16);
  s.product = round_up(checked_mul(rows, n.prepacked_chunk, "prepacked conv workspace"), 16);
  return s;
}

// y[ch * ldy + pix] = act(t[pix * ldt + ch] + bias[ch] (+ res[ch * ldy + pix])) for
// ch < channels, pix < pixels: the pixels x channels product back into NCHW.
template <Activation A>
void store_transposed(const float* t, int64_t ldt, int64_t pixels, int64_t channels, const float* bias,
                      const float* res, float* y, int64_t ldy) {
  for (int64_t ch = 0; ch < channels; ++ch) {
    const float bc = bias ? bias[ch] : 0.f;
    float* yr = y + ch * ldy;
    const float* rr = res ? res + ch * ldy : nullptr;
    for (int64_t i = 0; i < pixels; ++i) {
      float v = t[i * ldt + ch] + bc;
      if (rr) v += rr[i];
      yr[i] = activate(v, A);
    }
  }
}

void store_output(Activation a, const float* t, int64_t ldt, int64_t pixels, int64_t channels, const float* bias,
                  const float* res, float* y, int64_t ldy) {
  switch (a) {
    case Activation::relu: store_transposed<Activation::relu>(t, ldt, pixels, channels, bias, res, y, ldy); break;
    case Activation::relu6: store_transposed<Activation::relu6>(t, ldt, pixels, channels, bias, res, y, ldy); break;
    default: store_transposed<Activation::none>(t, ldt, pixels, channels, bias, res, y, ldy); break;
  }
}

// CNNNATIVE_ENGINE_PREPACK=always / never overrides the heuristic (tests, benchmarks).
int forced_prepack() {
  const char* env = std::getenv("CNNNATIVE_ENGINE_PREPACK");
  if (!env || !*env) return -1;
  const std::string v(env);
  if (v == "always" || v == "1") return 1;
  if (v == "never" || v == "0") return 0;
  return -1;
}

}  // namespace

bool prefer_prepacked(const ConvParams& p) {
  const int forced = forced_prepack();
  if (forced >= 0) return forced == 1;
  const int64_t pixels = p.output_h() * p.output_w();
  const int64_t depth = p.channels_per_group() * p.R * p.S;
  // Measured on one thread (b1 and b8): faster for ResNet's 7x7 and 14x14 outputs (0.6-0.8x
  // the plain GEMM's time) and its deep 56 -> 28 conv (0.9x), equal for the shallow
  // 56 -> 28 1x1 downsample (64 deep), where the plain path stays.
  if (depth < 64 || p.outputs_per_group() < 64) return false;
  return pixels <= 256 || (pixels <= 1024 && depth >= 256);
}

void prepack_conv_weights(Node& n) {
  const ConvParams& p = n.conv;
  const int64_t Kg = p.outputs_per_group(), depth = p.channels_per_group() * p.R * p.S;
  const int64_t pixels = p.output_h() * p.output_w();
  // The tile pads the pixel block (as configure_prepacked_tiles will cut it) and the
  // channels least; CNNNATIVE_ENGINE_PREPACK_KERNEL names one instead (benchmarks).
  const int64_t blocks = std::max<int64_t>(1, (depth * pixels + kBlockFloats - 1) / kBlockFloats);
  const char* kernel = std::getenv("CNNNATIVE_ENGINE_PREPACK_KERNEL");
  auto packed = std::make_shared<std::vector<PrepackedB>>();
  packed->reserve(size_t(p.groups));
  // W of group g is Kg x depth (OIHW rows); W^T is the GEMM's B, so it is packed "transposed".
  for (int64_t g = 0; g < p.groups; ++g)
    packed->emplace_back(active_isa(), true, n.weight.data() + g * Kg * depth, depth, depth, Kg,
                         std::max<int64_t>(1, (pixels + blocks - 1) / blocks), kernel ? kernel : "");
  n.prepacked = std::move(packed);
}

std::vector<float> unpack_prepacked_weights(const Node& n) {
  const ConvParams& p = n.conv;
  const int64_t Kg = p.outputs_per_group(), depth = p.channels_per_group() * p.R * p.S;
  std::vector<float> w(size_t(p.weight_numel()));
  for (int64_t g = 0; g < p.groups; ++g) (*n.prepacked)[size_t(g)].unpack(true, w.data() + g * Kg * depth, depth);
  return w;
}

size_t prepacked_weights_bytes(const Node& n) {
  size_t b = 0;
  if (n.prepacked)
    for (const PrepackedB& w : *n.prepacked) b += size_t(w.bytes());
  return b;
}

void configure_prepacked_tiles(Node& n, int threads) {
  const ConvParams& p = n.conv;
  const PrepackedB& b = n.prepacked->front();
  const int64_t pixels = std::max<int64_t>(1, p.output_h() * p.output_w());
  const int64_t depth = std::max<int64_t>(1, p.channels_per_group() * p.R * p.S);
  const int64_t images = std::max<int64_t>(p.N, 1) * p.groups;
  // Pixel blocks of about kBlockFloats unfolded values, in whole MR panels. Fewer images
  // than threads (batch 1): cut each into a block per thread when that leaves >= 8 panels
  // a block (each weight panel is reused 8 times while in L1), so no two threads unfold
  // the same pixels.
  int64_t blocks = std::max<int64_t>(1, (depth * pixels + kBlockFloats - 1) / kBlockFloats);
  const int64_t panels = (pixels + b.mr() - 1) / b.mr();
  if (images * blocks < threads)
    blocks = std::max(blocks, std::min(panels / 8, (threads + images - 1) / images));
  n.prepacked_block = std::min(pixels, round_up((pixels + blocks - 1) / blocks, b.mr()));
  const int64_t pieces = images * ((pixels + n.prepacked_block - 1) / n.prepacked_block);
  // Still too few pieces for the team (ResNet's 7x7 stage at batch 1: 7 panels): split
  // the output channels into chunks of whole panels; each thread then unfolds the block
  // too, which costs ~3% of the multiply there.
  const int64_t col_panels = (p.outputs_per_group() + b.nr() - 1) / b.nr();
  int64_t chunks = pieces >= 2 * threads ? 1 : (2 * threads + pieces - 1) / pieces;
  chunks = std::max<int64_t>(1, std::min(chunks, col_panels));
  n.prepacked_chunk = (col_panels + chunks - 1) / chunks * b.nr();
}

int64_t prepacked_scratch_floats(const Node& n, int threads) {
  return checked_mul(int64_t(threads), scratch_layout(n).total(), "prepacked conv workspace");
}

bool prepacked_conv_forward(const Node& n, int64_t batch, const float* x, const float* residual, float* y,
                            float* scratch, int threads) {
  const std::vector<PrepackedB>& weights = *n.prepacked;
  if (weights.front().isa() != active_isa()) return false;
  const ConvParams& p = n.conv;
  const int64_t G = p.groups, Cg = p.channels_per_group(), Kg = p.outputs_per_group();
  const int64_t P = p.output_h() * p.output_w(), HW = p.H * p.W;
  const int64_t depth = Cg * p.R * p.S;
  const int64_t pb = n.prepacked_block, chunk = n.prepacked_chunk;
  const int64_t nblocks = (P + pb - 1) / pb, nchunks = (Kg + chunk - 1) / chunk;
  const int64_t blocks = batch * G * nblocks;
  const bool plain_1x1 = conv_is_plain_1x1(p);
  const ThreadScratch layout = scratch_layout(n);
  const int nr = weights.front().nr();
  const bool avx512 = weights.front().isa() == Isa::avx512;
  const bool unfold_avx512 = !plain_1x1 && avx512 &&
                             unfold_panels_fits__avx512(p, weights.front().mr());
  const int64_t kc = weights.front().kc();
  const Activation stored = stored_part(n.act);
  const ActivationPass pass = node_activation_pass(n);

  // Chunk-major order: with as many blocks as threads, each thread keeps to its own block
  // (unfolded once) unless another thread falls behind.
  DynamicChunks items(blocks * nchunks, 1);
  run_team(threads, [&](int tid, int) {
    float* packed = scratch + int64_t(tid) * layout.total();
    float* unfold = packed + layout.packed;
    float* product = unfold + layout.unfold;
    int64_t unfolded = -1;  // the block `packed` holds
    int64_t item, item_end;
    while (items.next(&item, &item_end)) {
      const int64_t block = item % blocks, mt = item / blocks;
      const int64_t cb = block % nblocks, g = (block / nblocks) % G, img = block / (nblocks * G);
      const int64_t n0 = cb * pb, cols = std::min(pb, P - n0);
      const int64_t m0 = mt * chunk, rows = std::min(chunk, Kg - m0);
      const PrepackedB& w = weights[size_t(g)];
      const int64_t prows = w.padded_rows(cols);
      const float* xg = x + (img * p.C + g * Cg) * HW;
      if (unfolded != block) {
        // The block's unfold^T in MR-pixel panels, KC rows of depth at a time.
        for (int64_t pc = 0; pc < depth; pc += kc) {
          const int64_t kb = std::min(kc, depth - pc);
          if (plain_1x1) {
            w.pack_a(true, xg + pc * HW + n0, HW, cols, kb, packed + pc * prows);
          } else if (unfold_avx512) {
            unfold_panels__avx512(p, xg, pc, kb, n0, cols, w.mr(), packed + pc * prows);
          } else {
            im2col_rows(p, xg, pc, kb, n0, cols, unfold);
            w.pack_a(true, unfold, cols, cols, kb, packed + pc * prows);
          }
        }
        unfolded = block;
      }
      const int64_t q0 = m0 / nr, q1 = (m0 + rows + nr - 1) / nr;
      const int64_t ldt = (q1 - q0) * nr;
      for (int64_t pc = 0; pc < depth; pc += kc)
        w.multiply(pc, packed + pc * prows, cols, q0, q1, pc == 0 ? 0.f : 1.f, product, ldt);
      const int64_t yoff = (img * p.K + g * Kg + m0) * P + n0;
      const float* bias = n.bias.empty() ? nullptr : n.bias.data() + g * Kg + m0;
      const float* res = residual ? residual + yoff : nullptr;
      if (avx512)
        store_transposed__avx512(stored, product, ldt, cols, rows, bias, res, y + yoff, P);
      else
        store_output(stored, product, ldt, cols, rows, bias, res, y + yoff, P);
      pass.apply_rows(y + yoff, rows, cols, P, g * Kg + m0);  // the block just stored, in cache
    }
  });
  return true;
}

}  // namespace engine
}  // namespace cnnnative
