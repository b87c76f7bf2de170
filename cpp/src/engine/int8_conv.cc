// conv_int8 and linear_int8: uint8 activations times int8 weights into exact int32 sums
// (quant::gemm_s8u8_s32), then the requantizing output stage of engine/int8_nodes.h.
//
// Work split: (image, group, block of output pixels, block of output channels) items,
// shared dynamically by the team; each item unfolds its pixels (uint8 im2col, padding =
// the input's zero point) into its thread's scratch, unless the conv is a plain 1x1 whose
// image already is the GEMM's input. Depthwise convs run direct loops per channel plane.

#include <emmintrin.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "act/epilogue_activation.h"
#include "cnnnative/errors.h"
#include "cnnnative/isa.h"
#include "cnnnative/quant.h"
#include "cnnnative/thread_pool.h"
#include "engine/int8_nodes.h"
#include "engine/int8_taps_geometry.h"
#include "engine/int8_requant.h"
#include "engine/u8_rows.h"

namespace cnnnative {
namespace engine {

namespace {
constexpr int64_t kPixelBlock = kInt8PixelBlock;
constexpr int64_t kSerialMacs = int64_t(1) << 21;

// The row stages of a node's output channels (RowStage's constants, int8_requant.h), with
// the node's parameters folded: the uint8 output's 1 / scale and zero point, the uint8
// residual's scale and zero point, and relu / relu6 as the uint8 clamp. Folded in double,
// per node and then per channel; the per-pixel work is then a multiply-add or two and the
// clamp (half the vector operations of the stage step by step). `u8_stage`: the stage
// itself ends in uint8 (else it gives float32 values, e.g. for a float activation after it).
class ChannelStages {
 public:
  ChannelStages(const QuantNode& q, Activation act, bool residual, bool u8_stage) : q_(q) {
    inv_ = u8_stage ? 1.0 / double(q.out.scale) : 1.0;
    const double zero = u8_stage ? double(q.out.zero) : 0.0;
    const bool res_u8 = residual && q.res_u8;
    const double res_scale = res_u8 ? double(q.res.scale) : 1.0;
    shift_ = zero - (res_u8 ? double(q.res.zero) * res_scale * inv_ : 0.0);
    common_.res_scale = float(res_scale * inv_);
    common_.act = u8_stage ? Activation::none : act;
    const bool clamps_at_zero = act == Activation::relu || act == Activation::relu6;
    common_.lo = u8_stage && clamps_at_zero ? float(zero) : 0.f;
    common_.hi = u8_stage && act == Activation::relu6 ? float(std::min(255.0, 6.0 * inv_ + zero)) : 255.f;
  }
  RowStage operator()(int64_t k) const {
    RowStage st = common_;
    st.corr = q_.corr[size_t(k)];
    st.scale = float(double(q_.mult[size_t(k)]) * inv_);
    st.offset = float(double(q_.bias[size_t(k)]) * inv_ + shift_);
    return st;
  }

 private:
  const QuantNode& q_;
  double inv_, shift_;
  RowStage common_;
};

// Activations past relu6 (silu, hardswish, gelu, sigmoid, hardsigmoid): the row is staged
// to float32 without one, the engine's float kernel for it runs on that (act/elementwise:
// the eager op's very loop, as the float engine's epilogues do), then it is quantized as
// quantize does (quantize_row: the same operations).
void epilogue_float_act(const QuantNode& q, const RowStage& st, RequantRowFn row, const ActivationPass& pass,
                        int64_t k, const int32_t* acc, int64_t cols, uint8_t* out_u8) {
  constexpr int64_t kChunk = 256;
  float tmp[kChunk];
  const float inv = 1.f / q.out.scale, zero = float(q.out.zero);
  for (int64_t j0 = 0; j0 < cols; j0 += kChunk) {
    const int64_t n = std::min(kChunk, cols - j0);
    RowStage s = st;
    if (s.res_u8) s.res_u8 += j0;
    if (s.res_f32) s.res_f32 += j0;
    s.out_f32 = out_u8 ? tmp : st.out_f32 + j0;
    row(s, acc + j0, n);
    pass.apply(s.out_f32, n, k);
    if (out_u8) quantize_row(tmp, n, inv, zero, out_u8 + j0);
  }
}

// The output stage of `rows` channels starting at k0 over `cols` pixels: acc rows of
// stride lda; y / residual at channel k, pixel j: base + k * ldy + j (element units).
void epilogue(const QuantNode& q, Activation act, const int32_t* acc, int64_t lda, int64_t k0, int64_t rows,
              int64_t cols, const void* residual, void* y, int64_t ldy) {
  const ActivationPass pass = activation_pass(static_cast<cnnnative::Activation>(static_cast<int>(act)));
  const bool u8_stage = q.out_u8 && !pass;
  const RequantRowFn row = requant_row_fn();
  const ChannelStages stages(q, pass ? Activation::none : act, residual != nullptr, u8_stage);
  for (int64_t m = 0; m < rows; ++m) {
    const int64_t k = k0 + m;
    RowStage st = stages(k);
    if (residual) {
      if (q.res_u8) st.res_u8 = static_cast<const uint8_t*>(residual) + k * ldy;
      else st.res_f32 = static_cast<const float*>(residual) + k * ldy;
    }
    if (u8_stage) st.out_u8 = static_cast<uint8_t*>(y) + k * ldy;
    else if (!q.out_u8) st.out_f32 = static_cast<float*>(y) + k * ldy;
    if (pass)
      epilogue_float_act(q, st, row, pass, k, acc + m * lda, cols,
                         q.out_u8 ? static_cast<uint8_t*>(y) + k * ldy : nullptr);
    else row(st, acc + m * lda, cols);
  }
}

// Copies n bytes, inline for the short runs of small outputs (7 columns per output row at 7x7,
// where the libc calls and two divisions per run took about a fifth of a layer4 3x3):
// two overlapping fixed-size moves.
inline void copy_short(uint8_t* d, const uint8_t* s, int64_t n) {
  if (n >= 16) {
    std::memcpy(d, s, size_t(n));
  } else if (n >= 8) {
    uint64_t a, b;
    std::memcpy(&a, s, 8);
    std::memcpy(&b, s + n - 8, 8);
    std::memcpy(d, &a, 8);
    std::memcpy(d + n - 8, &b, 8);
  } else if (n >= 4) {
    uint32_t a, b;
    std::memcpy(&a, s, 4);
    std::memcpy(&b, s + n - 4, 4);
    std::memcpy(d, &a, 4);
    std::memcpy(d + n - 4, &b, 4);
  } else if (n > 0) {  // 1 to 3 bytes (a loop here became a memcpy call)
    d[0] = s[0];
    d[n / 2] = s[n / 2];
    d[n - 1] = s[n - 1];
  }
}

// Sets n bytes to v, the same way.
inline void fill_short(uint8_t* d, uint8_t v, int64_t n) {
  if (n >= 16) {
    std::memset(d, v, size_t(n));
  } else if (n >= 8) {
    const uint64_t a = uint64_t(v) * 0x0101010101010101ull;
    std::memcpy(d, &a, 8);
    std::memcpy(d + n - 8, &a, 8);
  } else if (n >= 4) {
    const uint32_t a = uint32_t(v) * 0x01010101u;
    std::memcpy(d, &a, 4);
    std::memcpy(d + n - 4, &a, 4);
  } else if (n > 0) {
    d[0] = v;
    d[n / 2] = v;
    d[n - 1] = v;
  }
}

// Padded planes up to this size go through im2col_u8_padded (on the stack).
constexpr int64_t kPaddedPlane = 8192;

// im2col_u8 for a block of all OH*OW output pixels of a small image (7x7 and 14x14 outputs
// at the end of a CNN): each channel is first copied into a zero-point-padded plane, so
// every (r, s) row is OH straight runs with no bounds to check. Row by row with bounds
// (im2col_u8) took about a fifth of a layer4 3x3 (4608 rows of 7 runs of 7 bytes).
void im2col_u8_padded(const ConvParams& p, const uint8_t* x, int64_t rows, uint8_t pad, uint8_t* dst) {
  const int64_t OH = p.output_h(), OW = p.output_w(), cols = OH * OW;
  const int64_t Wp = p.W + p.pad_left + p.pad_right, Hp = p.H + p.pad_top + p.pad_bottom;
  alignas(64) uint8_t plane[kPaddedPlane];
  for (int64_t c = 0, row = 0; row < rows; ++c) {
    std::memset(plane, pad, size_t(Hp * Wp));
    for (int64_t h = 0; h < p.H; ++h)
      std::memcpy(plane + (h + p.pad_top) * Wp + p.pad_left, x + (c * p.H + h) * p.W, size_t(p.W));
    for (int64_t r = 0; r < p.R; ++r)
      for (int64_t s = 0; s < p.S; ++s, ++row) {
        uint8_t* d = dst + row * cols;
        const uint8_t* src = plane + r * p.dilation_h * Wp + s * p.dilation_w;
        for (int64_t oh = 0; oh < OH; ++oh, d += OW, src += p.stride_h * Wp) {
          if (p.stride_w == 1) copy_short(d, src, OW);
          else if (p.stride_w == 2) gather_even_u8(src, OW, d);
          else
            for (int64_t ow = 0; ow < OW; ++ow) d[ow] = src[ow * p.stride_w];
        }
      }
  }
}

// Rows (c, r, s) of one group's unfolded image for output pixels [n0, n0 + cols), the
// padding holding `pad` (the input's zero point). Row by row over contiguous runs of one
// output row, as the float im2col_rows (engine/conv_node.cc) does.
void im2col_u8(const ConvParams& p, const uint8_t* x, int64_t rows, int64_t n0, int64_t cols, uint8_t pad,
               uint8_t* dst) {
  const int64_t OW = p.output_w();
  if (n0 == 0 && cols == p.output_h() * OW &&
      (p.H + p.pad_top + p.pad_bottom) * (p.W + p.pad_left + p.pad_right) <= kPaddedPlane)
    return im2col_u8_padded(p, x, rows, pad, dst);
  const int64_t oh_first = n0 / OW, ow_first = n0 % OW, end = n0 + cols;
  int64_t c = 0, r = 0, s = 0;  // row = (c * R + r) * S + s
  for (int64_t row = 0; row < rows; ++row) {
    const uint8_t* xc = x + c * p.H * p.W;
    const int64_t shift = s * p.dilation_w - p.pad_left;  // iw = ow * stride + shift
    int64_t ow_lo = shift >= 0 ? 0 : (-shift + p.stride_w - 1) / p.stride_w;
    int64_t ow_hi = (p.W - 1 - shift) < 0 ? 0 : (p.W - 1 - shift) / p.stride_w + 1;
    ow_lo = std::min(ow_lo, OW);
    ow_hi = std::min(std::max(ow_hi, ow_lo), OW);
    uint8_t* d = dst + row * cols;
    int64_t j = n0, oh = oh_first, ow0 = ow_first;
    while (j < end) {
      const int64_t ow1 = std::min(OW, ow0 + (end - j));
      const int64_t ih = oh * p.stride_h - p.pad_top + r * p.dilation_h;
      if (ih < 0 || ih >= p.H) {
        fill_short(d, pad, ow1 - ow0);
      } else {
        const uint8_t* src = xc + ih * p.W + shift;
        const int64_t a = std::max(ow0, ow_lo), b = std::min(ow1, ow_hi);
        fill_short(d, pad, std::min(ow1, a) - ow0);
        if (p.stride_w == 1) {
          if (b > a) copy_short(d + (a - ow0), src + a, b - a);
        } else if (p.stride_w == 2) {
          if (b > a) gather_even_u8(src + 2 * a, b - a, d + (a - ow0));
        } else {
          for (int64_t ow = a; ow < b; ++ow) d[ow - ow0] = src[ow * p.stride_w];
        }
        fill_short(d + (std::max(b, ow0) - ow0), pad, ow1 - std::max(b, ow0));
      }
      d += ow1 - ow0;
      j += ow1 - ow0;
      ++oh;
      ow0 = 0;
    }
    if (++s == p.S) {
      s = 0;
      if (++r == p.R) {
        r = 0;
        ++c;
      }
    }
  }
}

bool plain_1x1(const ConvParams& p) {
  return p.R == 1 && p.S == 1 && p.stride_h == 1 && p.stride_w == 1 && p.pad_top == 0 && p.pad_bottom == 0 &&
         p.pad_left == 0 && p.pad_right == 0;
}

int64_t pixel_block(const ConvParams& p) { return std::min(p.output_h() * p.output_w(), kPixelBlock); }

// The pixel block of one run (at most `full`, the scratch's): `full` on one thread or when
// the other item dimensions (images, groups, channel blocks) give every thread work; else
// whole 64-column panels, about two blocks per thread: a 28x28 output on two threads runs
// blocks of 192 pixels (256, 256, 256, 16 left one thread with twice the other's work).
int64_t run_pixel_block(int64_t cols, int64_t full, int64_t other_items, int threads) {
  if (threads <= 1 || other_items >= threads) return full;
  const int64_t panels = (cols + 63) / 64;
  const int64_t per = std::clamp<int64_t>(panels * other_items / (2 * threads), 1, kPixelBlock / 64);
  return std::min(full, per * 64);
}

// Per-thread scratch of a GEMM conv: the unfolded block and the int32 sums.
int64_t conv_thread_bytes(const Node& n) {
  const QuantNode& q = *n.quant;
  const int64_t nb = pixel_block(n.conv);
  const int64_t unfold = plain_1x1(n.conv) ? 0 : q.K_gemm * nb;
  return (unfold + 63) / 64 * 64 + q.m_block * nb * 4;
}

// Depthwise: quant::depthwise_s8u8_s32 on a chunk of channels at a time (exact int32 sums
// with the zero point in the padding; about 64 KB of sums, so small 7x7 planes go many
// to a call) into the thread's scratch, then the output stage while they are in cache.
int64_t dw_chunk(const ConvParams& p) {
  const int64_t P = p.output_h() * p.output_w();
  return std::max<int64_t>(1, std::min<int64_t>(p.C, 16384 / std::max<int64_t>(P, 1)));
}

void depthwise_int8(const Node& n, int64_t batch, const uint8_t* x, const void* residual, void* y,
                    void* scratch, int threads) {
  const QuantNode& q = *n.quant;
  const ConvParams& full = n.conv;
  const int64_t C = full.C, plane_in = full.H * full.W, taps = full.R * full.S;
  const int64_t P = full.output_h() * full.output_w(), chunk = dw_chunk(full);
  const int64_t chunks = (C + chunk - 1) / chunk, items = batch * chunks;
  const int64_t out_elem = q.out_u8 ? 1 : 4, res_elem = q.res_u8 ? 1 : 4;
  if (batch * C * P * taps < kSerialMacs) threads = 1;
  threads = int(std::min<int64_t>(threads, items));
  DynamicChunks work(items, 1);
  run_team(threads, [&](int tid, int) {
    int32_t* acc = static_cast<int32_t*>(scratch) + int64_t(tid) * chunk * P;
    int64_t it, it_end;
    while (work.next(&it, &it_end)) {
      const int64_t b = it / chunks, c0 = (it % chunks) * chunk, nc = std::min(chunk, C - c0);
      ConvParams p = full;  // channels [c0, c0 + nc) of image b: a depthwise conv of its own
      p.N = 1;
      p.C = p.K = p.groups = nc;
      quant::depthwise_s8u8_s32(p, x + (b * C + c0) * plane_in, uint8_t(q.in.zero), q.weight.data() + c0 * taps,
                                acc, true);
      const int64_t base = b * C * P;  // element offset of (image b, channel 0)
      epilogue(q, n.act, acc, P, c0, nc, P, residual ? static_cast<const char*>(residual) + base * res_elem : nullptr,
               static_cast<char*>(y) + base * out_elem, P);
    }
  });
}
}  // namespace

// The implicit GEMM over taps (quant::gemm_s8u8_s32_taps): no unfolded copy (the im2col
// and its packing were about a tenth of an int8 ResNet-50). The padded image is split into
// stride_h x stride_w phase planes (padded pixel (ih, iw) goes to phase (ih % sh, iw % sw),
// at (ih / sh, iw / sw)), so every tap reads one phase plane shifted by a fixed offset, over
// an "extended" output grid of Wq phase-plane columns per row: the Wq - OW columns past each
// output row are computed and dropped, and the path is taken while they add at most a
// third to the work. Not for 1x1 kernels (a strided 1x1 ran 0.75 ms this way, 0.67 ms
// through im2col: nothing to share between taps) nor for outputs of one panel (7x7: the
// im2col path's transposed GEMM kernel wastes no lanes on the 49 pixels; equal or better).
// Only the phases some tap reads are stored. Measured on one core of the AMD EPYC here
// (ms, im2col -> taps): 3x3 64->64 at 56x56 0.91 -> 0.69, 3x3 stride 2 128->128 56->28
// 1.15 -> 0.89.
// With AVX512-VNNI the planes hold 4 channels per pixel (fill_quad_planes), the layout
// vpdpbusd multiplies, and the kernel reads them in place with its accumulators kept over
// all taps (quant::gemm_s8u8_s32_taps_c4: 3x3 layers 0.86-0.91x of the one-channel planes
// packed per panel); outputs of at most 256 pixels run with lanes along M over exactly the
// output pixels (gemm_s8u8_s32_taps_c4t, int8_conv_taps_lanes_m), 7x7 outputs included.
namespace {
// The row stride of the padded planes (in the stride phase planes: columns of one phase).
// At stride 1, W + max(pad_left, pad_right) instead of W + pad_left + pad_right: the
// padding between two rows serves as the right padding of one and the left padding of the
// next (a tap reads at most pad_right columns past its row's pixels and pad_left before),
// so each output row computes max(pad) extra columns instead of their sum: at 14x14 with
// padding 1, 15 columns per 14 outputs instead of 16.
int64_t taps_row_stride(const ConvParams& p) {
  if (p.stride_h == 1 && p.stride_w == 1) return p.W + std::max(p.pad_left, p.pad_right);
  return (p.W + p.pad_left + p.pad_right + p.stride_w - 1) / p.stride_w;
}

}  // namespace

std::shared_ptr<const Int8TapsGeometry> int8_taps_geometry(const ConvParams& p, bool lanes_m) {
  auto made = std::make_shared<Int8TapsGeometry>();
  Int8TapsGeometry& t = *made;
  const int64_t Hp = p.H + p.pad_top + p.pad_bottom, Wp = p.W + p.pad_left + p.pad_right;
  t.Hq = (Hp + p.stride_h - 1) / p.stride_h;
  t.Wq = taps_row_stride(p);
  // Stride 1: rows of W + max(pad_left, pad_right) (see taps_row_stride), and the last
  // row's right padding reads up to min(pad_left, pad_right) more bytes.
  t.phase_plane = t.Hq * t.Wq + (Wp == t.Wq ? 0 : std::min(p.pad_left, p.pad_right));
  t.phase_of.assign(size_t(p.stride_h * p.stride_w), -1);
  int stored = 0;
  for (int64_t r = 0; r < p.R; ++r)
    for (int64_t s = 0; s < p.S; ++s) {
      const int64_t dy = r * p.dilation_h, dx = s * p.dilation_w;
      int& ph = t.phase_of[size_t((dy % p.stride_h) * p.stride_w + dx % p.stride_w)];
      if (ph < 0) ph = stored++;
      t.offsets.push_back(ph * t.phase_plane + dy / p.stride_h * t.Wq + dx / p.stride_w);
    }
  t.plane = stored * t.phase_plane;
  t.ext = (p.output_h() - 1) * t.Wq + p.output_w();
  t.nb = std::min(t.ext, kPixelBlock);
  if (lanes_m) {  // the GEMM's columns: the output pixels, at these offsets in the planes
    const int64_t OW = p.output_w();
    for (int64_t i = 0; i < p.output_h() * OW; ++i) t.pixels.push_back(i / OW * t.Wq + i % OW);
  }
  return made;
}

namespace {
// The taps path's scratch: the padded planes of a chunk of images (sized for the 4-channel
// layout, which holds the one-channel planes too), then per thread the int32 sums of a
// block.
struct TapsScratch {
  int64_t padded, acc_per_thread;
};
TapsScratch taps_scratch_parts(const Node& n) {
  const ConvParams& p = n.conv;
  const Int8TapsGeometry& t = *n.quant->taps_geometry;
  const int64_t chunk = t.chunk_images(n.in_shape[0], p.C), cpg = p.C / p.groups;
  return {std::max(t.padded_bytes(chunk, p.C), t.padded_c4_bytes(chunk, p.groups, (cpg + 3) / 4)),
          (n.quant->m_block * t.nb * 4 + 63) / 64 * 64};
}
}  // namespace

bool int8_conv_uses_taps(const ConvParams& p) {
  const int64_t OH = p.output_h(), OW = p.output_w();
  if (OH <= 0 || OW <= 0 || p.R * p.S == 1 || OH * OW <= 64) return false;
  // The geometry keeps one entry per stride phase (stride_h * stride_w): the strides of
  // real networks (1-4) only; a plan file's absurd stride takes im2col (the fuzzer's
  // stride of 2^30 asked for 6 GB here).
  if (p.stride_h > 4 || p.stride_w > 4) return false;
  return 3 * ((OH - 1) * taps_row_stride(p) + OW) <= 4 * OH * OW;
}

int64_t int8_taps_columns(const ConvParams& p) { return int8_taps_geometry(p, false)->ext; }

// Lanes along M where the normal tile's waste is clearly larger: it rounds the extended
// grid's columns up to 16 and computes its padding columns (224 columns for the 196 pixels
// of a 14x14 output, 64 for 49 at 7x7), the lanes-along-M tile rounds only the rows to 64.
// Outputs of one pixel block at most: the 3x3 ResNet layers at 14x14 (0.77-0.80x of their
// time with the normal tile on 4-channel pixels) and 7x7 (0.89-0.92x of im2col, which
// unfolded a copy of the image). At 28x28 and 56x56 it measured 0.97-1.04x of the normal
// tile (its 6 x 64 sums are transposed into C, a cost the normal tile does not have).
bool int8_conv_taps_lanes_m(const ConvParams& p) {
  if (active_isa() != Isa::avx512 || !quant::cpu_has_avx512_vnni()) return false;
  const int64_t OH = p.output_h(), OW = p.output_w(), P = OH * OW;
  if (OH <= 0 || OW <= 0 || p.R * p.S == 1 || p.stride_h > 4 || p.stride_w > 4 || P > kPixelBlock) return false;
  const int64_t kpg = p.K / p.groups, ext = (OH - 1) * taps_row_stride(p) + OW;
  const double lanes_m = double(kpg) / double((kpg + 63) / 64 * 64);
  const double normal = double(P) / double((ext + 15) / 16 * 16) * double(kpg) / double((kpg + 5) / 6 * 6);
  return lanes_m > 1.05 * normal;
}

namespace {
// The phase planes of channels c0 .. c0 + 3 of one image (x: its first channel, `valid` of
// them real) with 4 channels per pixel, into dst (4 * t.plane bytes): the layout of
// quant::gemm_s8u8_s32_taps_c4. Channels past `valid` repeat channel c0: their weights
// are zero, so any value adds nothing.
void fill_quad_planes(const ConvParams& p, const Int8TapsGeometry& t, const uint8_t* x, int64_t valid, uint8_t zero,
                      uint8_t* dst) {
  const int64_t H = p.H, W = p.W, sh = p.stride_h, sw = p.stride_w, pad_left = p.pad_left;
  std::memset(dst, zero, size_t(4 * t.plane));
  const uint8_t* ch[4];
  for (int64_t j = 0; j < 4; ++j) ch[j] = x + (j < valid ? j : 0) * H * W;
  for (int64_t h = 0; h < H; ++h) {
    const int64_t ih = h + p.pad_top;
    if (sw == 2) {  // both phases of the row in one pass, when both are stored
      const int pe = t.phase_of[size_t((ih % sh) * 2 + pad_left % 2)];
      const int po = t.phase_of[size_t((ih % sh) * 2 + (pad_left + 1) % 2)];
      if (pe >= 0 && po >= 0) {  // src[w] goes to padded column w + pad_left
        const uint8_t* rows[4];
        for (int64_t j = 0; j < 4; ++j) rows[j] = ch[j] + h * W;
        uint8_t* row = dst + 4 * (ih / sh * t.Wq);
        quant::split_interleave4_u8(rows, W, row + 4 * (pe * t.phase_plane + pad_left / 2),
                                    row + 4 * (po * t.phase_plane + (pad_left + 1) / 2));
        continue;
      }
    }
    for (int64_t cp = 0; cp < sw; ++cp) {  // the columns of phase (ih % sh, cp)
      const int ph = t.phase_of[size_t((ih % sh) * sw + cp)];
      if (ph < 0) continue;
      const int64_t w0 = ((cp - pad_left) % sw + sw) % sw;  // first w with (w + pad_left) % sw == cp
      if (w0 >= W) continue;
      const int64_t count = (W - w0 + sw - 1) / sw;
      const uint8_t* rows[4];
      for (int64_t j = 0; j < 4; ++j) rows[j] = ch[j] + h * W + w0;
      quant::interleave4_u8(rows, count, sw, dst + 4 * (ph * t.phase_plane + ih / sh * t.Wq + (w0 + pad_left) / sw));
    }
  }
}

// Per chunk of images: their phase planes (padding = the zero point), then (image, group,
// block of extended pixels, block of output channels) items shared by the team; each
// item's sums span extended rows, of which the first OW columns of each are output.
void conv_int8_taps(const Node& n, int64_t batch, const uint8_t* x, const void* residual, void* y, void* scratch,
                    int threads) {
  const QuantNode& q = *n.quant;
  const ConvParams& p = n.conv;
  const Int8TapsGeometry& t = *q.taps_geometry;  // made with the node (int8_plan.cc)
  const int64_t G = p.groups, cpg = p.C / G, kpg = p.K / G, OW = p.output_w(), P = p.output_h() * OW;
  const int64_t sh = p.stride_h, sw = p.stride_w;
  auto* padded = static_cast<uint8_t*>(scratch);
  const int64_t chunk = t.chunk_images(n.in_shape[0], p.C);  // as the scratch was sized
  const int64_t quads = (cpg + 3) / 4, quad_bytes = 4 * t.plane;
  // The VNNI kernel reads the image with 4 channels per pixel; the others take the planes
  // one channel each (the scratch fits either: taps_scratch_parts).
  const bool lanes_m = quant::gemm_s8_taps_c4t_supported(q.packed[0]);
  const bool c4 = lanes_m || quant::gemm_s8_taps_c4_supported(q.packed[0]);
  CN_CHECK(!lanes_m || int64_t(t.pixels.size()) == P, "conv_int8: the node's taps geometry lists ", t.pixels.size(),
           " output pixels for its lanes-along-M weights, expected ", P);
  const int64_t columns = lanes_m ? P : t.ext;
  const TapsScratch parts = taps_scratch_parts(n);
  uint8_t* thread_base = static_cast<uint8_t*>(scratch) + parts.padded;  // per thread: the sums
  const std::vector<int64_t>& offsets = t.offsets;
  const int64_t out_elem = q.out_u8 ? 1 : 4, res_elem = q.res_u8 ? 1 : 4;
  if (batch * p.K * P * q.K_gemm < kSerialMacs) threads = 1;
  for (int64_t b0 = 0; b0 < batch; b0 += chunk) {
    const int64_t images = std::min(chunk, batch - b0);
    const int64_t nb = run_pixel_block(columns, std::min(columns, t.nb), images * G * q.m_blocks, threads);
    const int64_t n_blocks = (columns + nb - 1) / nb, items = images * G * n_blocks * q.m_blocks;
    const int team = int(std::min<int64_t>(threads, items));
    if (c4) {
      team_for_each(team, images * G * quads, [&](int64_t i) {  // i = (image, group, quad)
        const int64_t qd = i % quads, bg = i / quads;
        const int64_t c0 = (bg % G) * cpg + 4 * qd, bl = bg / G;
        fill_quad_planes(p, t, x + ((b0 + bl) * p.C + c0) * p.H * p.W, std::min<int64_t>(4, cpg - 4 * qd),
                         uint8_t(q.in.zero), padded + i * quad_bytes);
      });
    } else {
      // H*W bytes per plane: small next to the GEMM, but split too (a serial part costs
      // a second thread its share).
      team_for_each(team, images * p.C, [&](int64_t pc) {
        uint8_t* dst = padded + pc * t.plane;
        std::memset(dst, q.in.zero, size_t(t.plane));
        const int64_t W = p.W, pad_left = p.pad_left;
        for (int64_t h = 0; h < p.H; ++h) {
          const int64_t ih = h + p.pad_top;
          const uint8_t* src = x + ((b0 * p.C + pc) * p.H + h) * W;
          if (sw == 2) {  // both phases of the row in one pass, when both are stored
            const int pe = t.phase_of[size_t((ih % sh) * 2 + pad_left % 2)];
            const int po = t.phase_of[size_t((ih % sh) * 2 + (pad_left + 1) % 2)];
            if (pe >= 0 && po >= 0) {  // src[w] goes to padded column w + pad_left
              uint8_t* row = dst + ih / sh * t.Wq;
              split_pairs_u8(src, W, row + pe * t.phase_plane + pad_left / 2,
                             row + po * t.phase_plane + (pad_left + 1) / 2);
              continue;
            }
          }
          for (int64_t cp = 0; cp < sw; ++cp) {  // the columns of phase (ih % sh, cp)
            const int ph = t.phase_of[size_t((ih % sh) * sw + cp)];
            if (ph < 0) continue;
            uint8_t* row = dst + ph * t.phase_plane + ih / sh * t.Wq;
            const int64_t w0 = ((cp - pad_left) % sw + sw) % sw;  // first w with (w + pad_left) % sw == cp
            if (sw == 1) {
              std::memcpy(row + pad_left, src, size_t(W));
            } else {
              uint8_t* out = row + (w0 + pad_left) / sw;
              for (int64_t w = w0; w < W; w += sw) *out++ = src[w];
            }
          }
        }
      });
    }
    DynamicChunks work(items, 1);
    run_team(team, [&](int tid, int) {
      // t.nb >= nb: the sums of any block fit
      int32_t* acc = reinterpret_cast<int32_t*>(thread_base + tid * parts.acc_per_thread);
      int64_t i0, i1;
      while (work.next(&i0, &i1))
        for (int64_t it = i0; it < i1; ++it) {
          const int64_t mb = it % q.m_blocks, rest = it / q.m_blocks;
          const int64_t blk = rest % n_blocks, bg = rest / n_blocks, g = bg % G, bl = bg / G, b = b0 + bl;
          const int64_t n0 = blk * nb, ncols = std::min(nb, columns - n0);
          const quant::PackedWeightsS8& w = q.packed[size_t(g * q.m_blocks + mb)];
          const int64_t k0 = g * kpg + mb * q.m_block;
          if (lanes_m) {  // dense output pixels [n0, n0 + ncols)
            quant::gemm_s8u8_s32_taps_c4t(w, ncols, padded + (bl * G + g) * quads * quad_bytes, quad_bytes,
                                          offsets.data(), int64_t(offsets.size()), t.pixels.data() + n0, cpg, acc,
                                          ncols);
            const int64_t base = b * p.K * P + n0;  // element offset of (b, channel 0, pixel n0)
            epilogue(q, n.act, acc, ncols, k0, w.M, ncols,
                     residual ? static_cast<const char*>(residual) + base * res_elem : nullptr,
                     static_cast<char*>(y) + base * out_elem, P);
            continue;
          }
          if (c4)
            quant::gemm_s8u8_s32_taps_c4(w, ncols, padded + (bl * G + g) * quads * quad_bytes + 4 * n0, quad_bytes,
                                         offsets.data(), int64_t(offsets.size()), cpg, acc, ncols);
          else
            quant::gemm_s8u8_s32_taps(w, ncols, padded + (bl * p.C + g * cpg) * t.plane + n0, t.plane,
                                      offsets.data(), int64_t(offsets.size()), cpg, acc, ncols);
          for (int64_t j = n0; j < n0 + ncols;) {  // the output columns of each extended row
            const int64_t oh = j / t.Wq, ow = j % t.Wq;
            if (ow >= OW) {
              j = (oh + 1) * t.Wq;
              continue;
            }
            const int64_t len = std::min(OW - ow, n0 + ncols - j);
            const int64_t base = b * p.K * P + oh * OW + ow;  // element offset of (b, channel 0, pixel)
            epilogue(q, n.act, acc + (j - n0), ncols, k0, w.M, len,
                     residual ? static_cast<const char*>(residual) + base * res_elem : nullptr,
                     static_cast<char*>(y) + base * out_elem, P);
            j += len;
          }
        }
    });
  }
}
}  // namespace

int64_t int8_conv_scratch_bytes(const Node& n, int threads) {
  if (n.kind == OpKind::linear_int8) {
    const QuantNode& q = *n.quant;
    const int64_t N = n.in_shape[0];
    return (q.K_gemm * N + 63) / 64 * 64 + n.out_features * N * 4;
  }
  if (n.quant->depthwise) return dw_chunk(n.conv) * n.conv.output_h() * n.conv.output_w() * 4 * threads;
  if (n.quant->taps) {
    const TapsScratch s = taps_scratch_parts(n);
    return s.padded + s.acc_per_thread * threads;
  }
  return conv_thread_bytes(n) * threads;
}

void conv_int8_forward(const Node& n, int64_t batch, const uint8_t* x, const void* residual, void* y, void* scratch,
                       int threads) {
  const QuantNode& q = *n.quant;
  const ConvParams& p = n.conv;
  if (q.depthwise) return depthwise_int8(n, batch, x, residual, y, scratch, threads);
  if (q.taps) return conv_int8_taps(n, batch, x, residual, y, scratch, threads);
  const int64_t G = p.groups, cpg = p.C / G, kpg = p.K / G, P = p.output_h() * p.output_w();
  const int64_t macs = batch * p.K * P * q.K_gemm;
  if (macs < kSerialMacs) threads = 1;
  const int64_t nb = run_pixel_block(P, pixel_block(p), batch * G * q.m_blocks, threads), n_blocks = (P + nb - 1) / nb;
  const int64_t items = batch * G * n_blocks * q.m_blocks;
  threads = int(std::min<int64_t>(threads, items));
  const bool direct = plain_1x1(p);
  const int64_t per_thread = conv_thread_bytes(n);
  const int64_t unfold_bytes = direct ? 0 : (q.K_gemm * nb + 63) / 64 * 64;
  const int64_t out_elem = q.out_u8 ? 1 : 4, res_elem = q.res_u8 ? 1 : 4;
  const uint8_t pad = uint8_t(q.in.zero);
  DynamicChunks work(items, 1);
  run_team(threads, [&](int tid, int) {
    char* mine = static_cast<char*>(scratch) + int64_t(tid) * per_thread;
    uint8_t* cols = reinterpret_cast<uint8_t*>(mine);
    int32_t* acc = reinterpret_cast<int32_t*>(mine + unfold_bytes);
    int64_t last_unfolded = -1;
    int64_t it, it_end;
    while (work.next(&it, &it_end)) {
      const int64_t mb = it % q.m_blocks, rest = it / q.m_blocks;
      const int64_t blk = rest % n_blocks, bg = rest / n_blocks, g = bg % G, b = bg / G;
      const int64_t n0 = blk * nb, ncols = std::min(nb, P - n0);
      const uint8_t* xg = x + (b * p.C + g * cpg) * p.H * p.W;
      const uint8_t* X;
      int64_t ldx;
      if (direct) {
        X = xg + n0;
        ldx = P;
      } else {
        if (last_unfolded != rest) im2col_u8(p, xg, q.K_gemm, n0, ncols, pad, cols);
        last_unfolded = rest;
        X = cols;
        ldx = ncols;
      }
      const quant::PackedWeightsS8& w = q.packed[size_t(g * q.m_blocks + mb)];
      quant::gemm_s8u8_s32(w, ncols, X, ldx, acc, ncols, /*single_thread=*/true);
      const int64_t k0 = g * kpg + mb * q.m_block;
      const int64_t base = b * p.K * P + n0;  // element offset of (b, channel 0, pixel n0)
      epilogue(q, n.act, acc, ncols, k0, w.M, ncols,
               residual ? static_cast<const char*>(residual) + base * res_elem : nullptr,
               static_cast<char*>(y) + base * out_elem, P);
    }
  });
}

void linear_int8_forward(const Node& n, int64_t batch, const uint8_t* x, void* y, void* scratch, int threads) {
  const QuantNode& q = *n.quant;
  const int64_t K = q.K_gemm, M = n.out_features;
  uint8_t* xt = static_cast<uint8_t*>(scratch);  // K x batch
  int32_t* acc = reinterpret_cast<int32_t*>(static_cast<char*>(scratch) + (K * n.in_shape[0] + 63) / 64 * 64);
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t k = 0; k < K; ++k) xt[k * batch + b] = x[b * K + k];
  if (batch * K * M < kSerialMacs) threads = 1;
  threads = int(std::min<int64_t>(threads, q.m_blocks));
  team_for_each_dynamic(threads, q.m_blocks, 1, [&](int64_t mb) {
    const quant::PackedWeightsS8& w = q.packed[size_t(mb)];
    quant::gemm_s8u8_s32(w, batch, xt, batch, acc + mb * q.m_block * batch, batch, /*single_thread=*/true);
  });
  // acc is M x batch; y is batch x M: the epilogue walks channel k's row of acc with the
  // output stride M... written per sample instead, reading acc with column stride.
  const int64_t elem = q.out_u8 ? 1 : 4;
  for (int64_t b = 0; b < batch; ++b)  // row k of sample b is acc[k * batch + b]: one 1-pixel row per channel
    epilogue(q, n.act, acc + b, batch, 0, M, 1, nullptr, static_cast<char*>(y) + b * M * elem, 1);
}

}  // namespace engine
}  // namespace cnnnative
