// conv_int8 and linear_int8: uint8 activations times int8 weights into exact int32 sums
// (quant::gemm_s8u8_s32), then the requantizing output stage of engine/int8_nodes.h.
//
// Work split: (image, group, block of output pixels, block of output channels) items,
// shared dynamically by the team; each item unfolds its pixels (uint8 im2col, padding =
// the input's zero point) into its thread's scratch, unless the conv is a plain 1x1 whose
// image already is the GEMM's input. Depthwise convs run direct loops per channel plane.

#include <algorithm>
#include <cstring>

#include "cnnnative/errors.h"
#include "cnnnative/thread_pool.h"
#include "engine/int8_nodes.h"
#include "engine/int8_requant.h"

namespace cnnnative {
namespace engine {

namespace {
constexpr int64_t kPixelBlock = kInt8PixelBlock;
constexpr int64_t kSerialMacs = int64_t(1) << 21;

// The output stage of `rows` channels starting at k0 over `cols` pixels: acc rows of
// stride lda; y / residual at channel k, pixel j: base + k * ldy + j (element units).
void epilogue(const QuantNode& q, Activation act, const int32_t* acc, int64_t lda, int64_t k0, int64_t rows,
              int64_t cols, const void* residual, void* y, int64_t ldy) {
  RowStage st;
  st.act = act;
  st.res_scale = q.res.scale;
  st.res_zero = q.res.zero;
  st.inv_scale = 1.f / q.out.scale;
  st.zero = float(q.out.zero);
  for (int64_t m = 0; m < rows; ++m) {
    const int64_t k = k0 + m;
    st.corr = q.corr[size_t(k)];
    st.mult = q.mult[size_t(k)];
    st.bias = q.bias[size_t(k)];
    if (residual) {
      if (q.res_u8) st.res_u8 = static_cast<const uint8_t*>(residual) + k * ldy;
      else st.res_f32 = static_cast<const float*>(residual) + k * ldy;
    }
    if (q.out_u8) st.out_u8 = static_cast<uint8_t*>(y) + k * ldy;
    else st.out_f32 = static_cast<float*>(y) + k * ldy;
    requant_row(st, acc + m * lda, cols);
  }
}

// Rows (c, r, s) of one group's unfolded image for output pixels [n0, n0 + cols), the
// padding holding `pad` (the input's zero point). Row by row over contiguous runs of one
// output row, as the float im2col_rows (engine/conv_node.cc) does.
void im2col_u8(const ConvParams& p, const uint8_t* x, int64_t rows, int64_t n0, int64_t cols, uint8_t pad,
               uint8_t* dst) {
  const int64_t OW = p.output_w();
  for (int64_t row = 0; row < rows; ++row) {
    const int64_t s = row % p.S, r = (row / p.S) % p.R, c = row / (p.R * p.S);
    const uint8_t* xc = x + c * p.H * p.W;
    const int64_t shift = s * p.dilation_w - p.pad_left;  // iw = ow * stride + shift
    int64_t ow_lo = shift >= 0 ? 0 : (-shift + p.stride_w - 1) / p.stride_w;
    int64_t ow_hi = (p.W - 1 - shift) < 0 ? 0 : (p.W - 1 - shift) / p.stride_w + 1;
    ow_lo = std::min(ow_lo, OW);
    ow_hi = std::min(std::max(ow_hi, ow_lo), OW);
    uint8_t* d = dst + row * cols;
    int64_t j = n0;
    const int64_t end = n0 + cols;
    while (j < end) {
      const int64_t oh = j / OW, ow0 = j % OW, ow1 = std::min(OW, ow0 + (end - j));
      const int64_t ih = oh * p.stride_h - p.pad_top + r * p.dilation_h;
      if (ih < 0 || ih >= p.H) {
        std::memset(d, pad, size_t(ow1 - ow0));
      } else {
        const uint8_t* src = xc + ih * p.W + shift;
        const int64_t a = std::max(ow0, ow_lo), b = std::min(ow1, ow_hi);
        for (int64_t ow = ow0; ow < std::min(ow1, a); ++ow) d[ow - ow0] = pad;
        if (p.stride_w == 1) {
          if (b > a) std::memcpy(d + (a - ow0), src + a, size_t(b - a));
        } else {
          for (int64_t ow = a; ow < b; ++ow) d[ow - ow0] = src[ow * p.stride_w];
        }
        for (int64_t ow = std::max(b, ow0); ow < ow1; ++ow) d[ow - ow0] = pad;
      }
      d += ow1 - ow0;
      j += ow1 - ow0;
    }
  }
}

bool plain_1x1(const ConvParams& p) {
  return p.R == 1 && p.S == 1 && p.stride_h == 1 && p.stride_w == 1 && p.pad_top == 0 && p.pad_bottom == 0 &&
         p.pad_left == 0 && p.pad_right == 0;
}

int64_t pixel_block(const ConvParams& p) { return std::min(p.output_h() * p.output_w(), kPixelBlock); }

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

int64_t int8_conv_scratch_bytes(const Node& n, int threads) {
  if (n.kind == OpKind::linear_int8) {
    const QuantNode& q = *n.quant;
    const int64_t N = n.in_shape[0];
    return (q.K_gemm * N + 63) / 64 * 64 + n.out_features * N * 4;
  }
  if (n.quant->depthwise) return dw_chunk(n.conv) * n.conv.output_h() * n.conv.output_w() * 4 * threads;
  return conv_thread_bytes(n) * threads;
}

void conv_int8_forward(const Node& n, int64_t batch, const uint8_t* x, const void* residual, void* y, void* scratch,
                       int threads) {
  const QuantNode& q = *n.quant;
  const ConvParams& p = n.conv;
  if (q.depthwise) return depthwise_int8(n, batch, x, residual, y, scratch, threads);
  const int64_t G = p.groups, cpg = p.C / G, kpg = p.K / G, P = p.output_h() * p.output_w();
  const int64_t nb = pixel_block(p), n_blocks = (P + nb - 1) / nb;
  const int64_t items = batch * G * n_blocks * q.m_blocks;
  const int64_t macs = batch * p.K * P * q.K_gemm;
  if (macs < kSerialMacs) threads = 1;
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
