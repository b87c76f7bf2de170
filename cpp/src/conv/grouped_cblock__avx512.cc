// The AVX-512 body of the channel-blocked grouped convolution (grouped_cblock.h): one block
// of 16 output channels (whole groups), a band of output rows.
//   1. taps: for each (j, r, s) a vector of the 16 output channels' weights for input j of
//      their group; input: the band's zero-padded copy with 16 channels per pixel vector;
//      for CG < 16 also each pixel's CG "spread" vectors, lane o holding input channel
//      (o / CG) * CG + j (one permute per pixel and j, reused by every tap that reads it);
//   2. each output row in blocks of up to 8 pixels: per tap and j, one weight vector and one
//      FMA per pixel with the spread input (CG = 16: a broadcast load);
//   3. back to planes with the residual and ReLU / ReLU6.
#include <immintrin.h>

#include <array>
#include <utility>

#include "conv/channel_lanes__avx512.h"
#include "conv/grouped_cblock.h"

namespace cnnnative {
namespace grouped {
namespace {

using channel_lanes::L;
constexpr int kMaxBlock = 8;

// B output pixels of one row. in / spread: the band rows of the block's first input column
// (ld_in / ld_spread floats apart); for CG = 32 the group's second 16 input channels are in
// the copy `spread` (same layout as in); taps[(j * R + r) * 3 + s].
template <int CG, int SW, int B>
void row_block(const float* in, int64_t ld_in, const float* spread, int64_t ld_spread, int64_t R, const float* taps,
               const float* bias, float* out) {
  __m512 acc[B];
  const __m512 b0 = _mm512_load_ps(bias);
#pragma GCC unroll 8
  for (int b = 0; b < B; ++b) acc[b] = b0;
  for (int64_t r = 0; r < R; ++r) {
#pragma GCC unroll 3
    for (int s = 0; s < 3; ++s) {
#pragma GCC unroll 32
      for (int j = 0; j < CG; ++j) {
        const __m512 wv = _mm512_load_ps(taps + ((j * R + r) * 3 + s) * L);
#pragma GCC unroll 8
        for (int b = 0; b < B; ++b) {
          const int col = b * SW + s;
          __m512 e;
          if constexpr (CG == 16)
            e = _mm512_set1_ps(in[r * ld_in + col * L + j]);
          else if constexpr (CG == 32)
            e = _mm512_set1_ps(j < 16 ? in[r * ld_in + col * L + j] : spread[r * ld_spread + col * L + j - 16]);
          else
            e = _mm512_load_ps(spread + r * ld_spread + (col * CG + j) * L);
          acc[b] = _mm512_fmadd_ps(wv, e, acc[b]);
        }
      }
    }
  }
#pragma GCC unroll 8
  for (int b = 0; b < B; ++b) _mm512_store_ps(out + b * L, acc[b]);
}

using RowBlockFn = void (*)(const float*, int64_t, const float*, int64_t, int64_t, const float*, const float*, float*);

template <int CG, int SW, int... Bs>
constexpr std::array<RowBlockFn, kMaxBlock + 1> row_block_table(std::integer_sequence<int, Bs...>) {
  return {{nullptr, &row_block<CG, SW, Bs + 1>...}};
}

template <int CG, int SW>
void conv_row(const float* in, int64_t ld_in, const float* spread, int64_t ld_spread, int64_t R, const float* taps,
              const float* bias, float* out, int64_t OW) {
  static constexpr std::array<RowBlockFn, kMaxBlock + 1> kBlocks =
      row_block_table<CG, SW>(std::make_integer_sequence<int, kMaxBlock>{});
  constexpr int64_t kSpreadPerPixel = CG < 16 ? CG * L : L;  // floats per pixel of `spread`
  int64_t ow = 0;
  for (; ow + kMaxBlock <= OW; ow += kMaxBlock)
    kBlocks[kMaxBlock](in + ow * SW * L, ld_in, spread + ow * SW * kSpreadPerPixel, ld_spread, R, taps, bias,
                       out + ow * L);
  if (ow < OW)
    kBlocks[OW - ow](in + ow * SW * L, ld_in, spread + ow * SW * kSpreadPerPixel, ld_spread, R, taps, bias,
                     out + ow * L);
}

using ConvRowFn = void (*)(const float*, int64_t, const float*, int64_t, int64_t, const float*, const float*, float*,
                           int64_t);

ConvRowFn conv_row_for(int64_t cg, int64_t stride) {
  if (stride == 1)
    return cg == 4 ? &conv_row<4, 1> : cg == 8 ? &conv_row<8, 1> : cg == 16 ? &conv_row<16, 1> : &conv_row<32, 1>;
  return cg == 4 ? &conv_row<4, 2> : cg == 8 ? &conv_row<8, 2> : cg == 16 ? &conv_row<16, 2> : &conv_row<32, 2>;
}

// spread[(pixel * cg + j)] = the pixel vector with lane o taken from lane (o / cg) * cg + j.
void spread_band(const float* in, int64_t pixels, int64_t cg, float* spread) {
  const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  const __m512i group_first = _mm512_and_epi32(lane, _mm512_set1_epi32(~int(cg - 1)));
  for (int64_t q = 0; q < pixels; ++q) {
    const __m512 v = _mm512_load_ps(in + q * L);
    for (int64_t j = 0; j < cg; ++j)
      _mm512_store_ps(spread + (q * cg + j) * L,
                      _mm512_permutexvar_ps(_mm512_add_epi32(group_first, _mm512_set1_epi32(int(j))), v));
  }
}

}  // namespace

void band__avx512(const ConvParams& p, const float* x_img, const float* w, const float* bias, int64_t c0, int nc,
                  int64_t oh0, int64_t oh1, const float* residual_img, float* y_img, int act, float* scratch) {
  const int64_t cg = p.C / p.groups, RS = p.R * p.S, OW = p.output_w(), P = p.output_h() * OW;
  const int64_t PW = p.W + p.pad_left + p.pad_right, band = oh1 - oh0;
  const int64_t in_rows = (band - 1) * p.stride_h + p.R;
  // spread: in_rows x PW x cg vectors for cg < 16; for cg = 32 the band of the group's
  // other 16 input channels (in_rows x PW vectors); unused for cg = 16.
  const int64_t spread_per_pixel = cg < 16 ? cg * L : cg == 32 ? L : 0;
  float* in = scratch;  // in_rows x PW vectors
  float* spread = in + in_rows * PW * L;
  float* out = spread + in_rows * PW * spread_per_pixel;  // band x OW vectors
  float* taps = out + band * OW * L;  // cg x R x S vectors
  alignas(64) float bias16[L];
  _mm512_store_ps(bias16, _mm512_maskz_loadu_ps(channel_lanes::first_lanes(nc), bias + c0));

  // The weights of output channel c0 + o are w[(c0 + o) * cg * RS + j * RS + r * S + s]:
  // position j * RS + r * S + s of its row, so the transposes give taps[(j * R + r) * S + s].
  float* tap = taps;
  channel_lanes::channels_to_lanes(w + c0 * cg * RS, cg * RS, nc, 0, cg * RS, [&](__m512 v) {
    _mm512_store_ps(tap, v);
    tap += L;
  });
  const int64_t ih_first = oh0 * p.stride_h - p.pad_top;
  if (cg == 32) {  // the group's input channels: its first 16 in `in`, the other 16 in `spread`
    const int64_t group_first = c0 / 32 * 32;
    channel_lanes::padded_band(x_img, p.H, p.W, p.pad_left, p.pad_right, group_first, 16, ih_first, in_rows,
                               _mm512_setzero_ps(), in);
    channel_lanes::padded_band(x_img, p.H, p.W, p.pad_left, p.pad_right, group_first + 16, 16, ih_first, in_rows,
                               _mm512_setzero_ps(), spread);
  } else {
    channel_lanes::padded_band(x_img, p.H, p.W, p.pad_left, p.pad_right, c0, nc, ih_first, in_rows,
                               _mm512_setzero_ps(), in);
    if (cg < 16) spread_band(in, in_rows * PW, cg, spread);
  }

  const ConvRowFn conv = conv_row_for(cg, p.stride_w);
  for (int64_t oh = oh0; oh < oh1; ++oh) {
    const int64_t row = (oh - oh0) * p.stride_h;
    conv(in + row * PW * L, PW * L, spread + row * PW * spread_per_pixel, PW * spread_per_pixel, p.R, taps, bias16,
         out + (oh - oh0) * OW * L, OW);
  }

  const int64_t first = oh0 * OW;
  const __m512 zero = _mm512_setzero_ps(), six = _mm512_set1_ps(6.f);
  channel_lanes::lanes_to_channels(out, band * OW, nc, [&](int ch, int64_t q0, __mmask16 m, __m512 v) {
    const int64_t at = (c0 + ch) * P + first + q0;
    if (residual_img) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, residual_img + at));
    if (act != 0) v = _mm512_max_ps(zero, v);  // data second: NaN stays NaN
    if (act == 2) v = _mm512_min_ps(six, v);
    _mm512_mask_storeu_ps(y_img + at, m, v);
  });
}

}  // namespace grouped
}  // namespace cnnnative
