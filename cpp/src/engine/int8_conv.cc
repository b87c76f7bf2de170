// conv_int8 and linear_int8: uint8 activations times int8 weights into exact int32 sums
// (quant::gemm_s8u8_s32), then the requantizing output stage of engine/int8_nodes.h.
//
// Work split: (image, group, block of output pixels, block of output channels) items,
// shared dynamically by the team; each item unfolds its pixels (uint8 im2col, padding =
// the input's zero point) into its thread's scratch, unless the conv is a plain 1x1 whose
// image already is the GEMM's input. Depthwise convs run direct loops per channel plane.
#include <omp.h>

#include <algorithm>
#include <cstring>

#include "cnnnative/errors.h"
#include "engine/int8_nodes.h"

namespace cnnnative {
namespace engine {

namespace {
constexpr int64_t kPixelBlock = 256;  // output pixels per work item
constexpr int64_t kSerialMacs = int64_t(1) << 21;

// 2^23 + 2^22: adding and subtracting it rounds a float in [0, 2^22) to the nearest
// integer, ties to even (the current rounding mode), as rint does, but vectorises on SSE2.
constexpr float kRound = 12582912.f;

inline uint8_t requant(float v, float inv_scale, float zero) {
  float t = v * inv_scale;
  t = t + zero;
  t = t > 0.f ? t : 0.f;  // NaN -> 0
  t = t < 255.f ? t : 255.f;
  t = (t + kRound) - kRound;
  return uint8_t(int32_t(t));
}

inline float activate_q(float v, Activation a) {
  if (a == Activation::relu) return v < 0.f ? 0.f : v;
  if (a == Activation::relu6) return std::min(std::max(v, 0.f), 6.f);
  return v;
}

// The output stage of `rows` channels starting at k0 over `cols` pixels: acc rows of
// stride lda; y / residual at channel k, pixel j: base + k * ldy + j (element units).
void epilogue(const QuantNode& q, Activation act, const int32_t* acc, int64_t lda, int64_t k0, int64_t rows,
              int64_t cols, const void* residual, void* y, int64_t ldy, int64_t acc_col_stride = 1) {
  const float inv = 1.f / q.out.scale, zero = float(q.out.zero);
  const float rs = q.res.scale;
  const int32_t rz = q.res.zero;
  for (int64_t m = 0; m < rows; ++m) {
    const int64_t k = k0 + m;
    const int32_t corr = q.corr[size_t(k)];
    const float mult = q.mult[size_t(k)], bias = q.bias[size_t(k)];
    const int32_t* a = acc + m * lda;
    float vals[kPixelBlock];
    for (int64_t j0 = 0; j0 < cols; j0 += kPixelBlock) {
      const int64_t nj = std::min(kPixelBlock, cols - j0);
      for (int64_t j = 0; j < nj; ++j) vals[j] = int8_dequant_acc(a[(j0 + j) * acc_col_stride] + corr, mult, bias);
      if (residual) {
        if (q.res_u8) {
          const uint8_t* r = static_cast<const uint8_t*>(residual) + k * ldy + j0;
          for (int64_t j = 0; j < nj; ++j) vals[j] += rs * float(int32_t(r[j]) - rz);
        } else {
          const float* r = static_cast<const float*>(residual) + k * ldy + j0;
          for (int64_t j = 0; j < nj; ++j) vals[j] += r[j];
        }
      }
      if (act != Activation::none)
        for (int64_t j = 0; j < nj; ++j) vals[j] = activate_q(vals[j], act);
      if (q.out_u8) {
        uint8_t* o = static_cast<uint8_t*>(y) + k * ldy + j0;
        for (int64_t j = 0; j < nj; ++j) o[j] = requant(vals[j], inv, zero);
      } else {
        float* o = static_cast<float*>(y) + k * ldy + j0;
        std::memcpy(o, vals, sizeof(float) * size_t(nj));
      }
    }
  }
}

// Rows (c, r, s) of one group's unfolded image for output pixels [n0, n0 + cols).
void im2col_u8(const ConvParams& p, const uint8_t* x, int64_t rows, int64_t n0, int64_t cols, uint8_t pad,
               uint8_t* dst) {
  const int64_t OW = p.output_w();
  for (int64_t row = 0; row < rows; ++row) {
    const int64_t s = row % p.S, r = (row / p.S) % p.R, c = row / (p.R * p.S);
    const uint8_t* xc = x + c * p.H * p.W;
    uint8_t* d = dst + row * cols;
    for (int64_t j = 0; j < cols; ++j) {
      const int64_t pix = n0 + j, oh = pix / OW, ow = pix % OW;
      const int64_t ih = oh * p.stride_h - p.pad_top + r * p.dilation_h;
      const int64_t iw = ow * p.stride_w - p.pad_left + s * p.dilation_w;
      d[j] = (ih >= 0 && ih < p.H && iw >= 0 && iw < p.W) ? xc[ih * p.W + iw] : pad;
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

void depthwise_int8(const Node& n, int64_t batch, const uint8_t* x, const void* residual, void* y, int threads) {
  const QuantNode& q = *n.quant;
  const ConvParams& p = n.conv;
  const int64_t OH = p.output_h(), OW = p.output_w(), C = p.C, taps = p.R * p.S;
  const int32_t zx = q.in.zero;
  const int64_t planes = batch * C;
  if (int64_t(batch) * C * OH * OW * taps < kSerialMacs) threads = 1;
#pragma omp parallel num_threads(threads)
  {
    thread_local std::vector<int32_t> acc;  // grows once, then reused
    if (int64_t(acc.size()) < OW) acc.resize(size_t(OW));
#pragma omp for schedule(dynamic, 4)
    for (int64_t plane = 0; plane < planes; ++plane) {
      const int64_t c = plane % C;
      const uint8_t* xp = x + plane * p.H * p.W;
      const int8_t* w = q.weight.data() + c * taps;
      for (int64_t oh = 0; oh < OH; ++oh) {
        std::fill(acc.begin(), acc.begin() + OW, 0);
        for (int64_t r = 0; r < p.R; ++r) {
          const int64_t ih = oh * p.stride_h - p.pad_top + r * p.dilation_h;
          if (ih < 0 || ih >= p.H) continue;
          const uint8_t* xr = xp + ih * p.W;
          for (int64_t s = 0; s < p.S; ++s) {
            const int32_t wv = w[r * p.S + s];
            const int64_t shift = s * p.dilation_w - p.pad_left;
            int64_t lo = shift >= 0 ? 0 : (-shift + p.stride_w - 1) / p.stride_w;
            int64_t hi = (p.W - 1 - shift) < 0 ? 0 : (p.W - 1 - shift) / p.stride_w + 1;
            hi = std::min(hi, OW);
            for (int64_t ow = lo; ow < hi; ++ow) acc[size_t(ow)] += wv * (int32_t(xr[ow * p.stride_w + shift]) - zx);
          }
        }
        // acc already is acc + corr (padding and the zero point cancel): no correction.
        const int64_t out_off = (plane * OH + oh) * OW;
        const float mult = q.mult[size_t(c)], bias = q.bias[size_t(c)];
        for (int64_t ow = 0; ow < OW; ++ow) {
          float v = int8_dequant_acc(acc[size_t(ow)], mult, bias);
          if (residual) {
            const int64_t i = out_off + ow;
            v += q.res_u8 ? q.res.scale * float(int32_t(static_cast<const uint8_t*>(residual)[i]) - q.res.zero)
                          : static_cast<const float*>(residual)[i];
          }
          v = activate_q(v, n.act);
          if (q.out_u8) static_cast<uint8_t*>(y)[out_off + ow] = requant(v, 1.f / q.out.scale, float(q.out.zero));
          else static_cast<float*>(y)[out_off + ow] = v;
        }
      }
    }
  }
}
}  // namespace

int64_t int8_conv_scratch_bytes(const Node& n, int threads) {
  if (n.kind == OpKind::linear_int8) {
    const QuantNode& q = *n.quant;
    const int64_t N = n.in_shape[0];
    return (q.K_gemm * N + 63) / 64 * 64 + n.out_features * N * 4;
  }
  if (n.quant->depthwise) return 0;
  return conv_thread_bytes(n) * threads;
}

void conv_int8_forward(const Node& n, int64_t batch, const uint8_t* x, const void* residual, void* y, void* scratch,
                       int threads) {
  const QuantNode& q = *n.quant;
  const ConvParams& p = n.conv;
  if (q.depthwise) return depthwise_int8(n, batch, x, residual, y, threads);
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
#pragma omp parallel num_threads(threads)
  {
    char* mine = static_cast<char*>(scratch) + int64_t(omp_get_thread_num()) * per_thread;
    uint8_t* cols = reinterpret_cast<uint8_t*>(mine);
    int32_t* acc = reinterpret_cast<int32_t*>(mine + unfold_bytes);
    int64_t last_unfolded = -1;
#pragma omp for schedule(dynamic, 1)
    for (int64_t it = 0; it < items; ++it) {
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
  }
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
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1)
  for (int64_t mb = 0; mb < q.m_blocks; ++mb) {
    const quant::PackedWeightsS8& w = q.packed[size_t(mb)];
    quant::gemm_s8u8_s32(w, batch, xt, batch, acc + mb * q.m_block * batch, batch, /*single_thread=*/true);
  }
  // acc is M x batch; y is batch x M: the epilogue walks channel k's row of acc with the
  // output stride M... written per sample instead, reading acc with column stride.
  for (int64_t b = 0; b < batch; ++b) {
    const int64_t elem = q.out_u8 ? 1 : 4;
    // Row k of sample b: acc[k * batch + b]; treat each output channel as a 1-pixel row.
    epilogue(q, n.act, acc + b, batch, 0, M, 1, nullptr, static_cast<char*>(y) + b * M * elem, 1);
  }
}

}  // namespace engine
}  // namespace cnnnative
