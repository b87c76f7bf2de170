// The AVX-512 body of the channel-blocked depthwise kernel (depthwise_cblock.h).
// One call: 16 channels of one image, a band of output rows.
//   1. the channels' taps and the band's input rows are transposed into vectors of 16
//      channels (one vector per tap, one per input pixel, in a zero-padded copy);
//   2. each output row is computed in blocks of up to 16 pixels, all taps accumulated in
//      registers: per kernel row, each input vector the block touches is loaded once and
//      feeds every (pixel, tap) pair that reads it, with that row's S weights in registers;
//   3. the band's output vectors are transposed back into the channels' planes, with the
//      residual and ReLU / ReLU6 applied on the way.
#include <immintrin.h>

#include <algorithm>
#include <array>
#include <utility>

#include "conv/depthwise_cblock.h"
#include "conv/channel_lanes__avx512.h"

namespace cnnnative {
namespace depthwise {
namespace {

using channel_lanes::L;

// B output pixels of one row: out[j] = bias + sum_{r,s} taps[r*S+s] * in[r][j*SW + s],
// where in[r] is the padded copy's row r (ld floats apart) starting at the block's first
// input column. Input column c of the block feeds pixel j through tap s = c - j*SW.
template <int S, int SW, int B>
void row_block(const float* in, int64_t ld, int64_t R, const float* taps, const float* bias, float* out) {
  __m512 acc[B];
  const __m512 b = _mm512_load_ps(bias);
#pragma GCC unroll 16
  for (int j = 0; j < B; ++j) acc[j] = b;
  for (int64_t r = 0; r < R; ++r) {
    const float* row = in + r * ld;
    __m512 w[S];
#pragma GCC unroll 7
    for (int s = 0; s < S; ++s) w[s] = _mm512_load_ps(taps + (r * S + s) * L);
    channel_lanes::for_each_tap_of_row<S, SW, B>(
        row, [&](int j, int s, __m512 v) { acc[j] = _mm512_fmadd_ps(w[s], v, acc[j]); });
  }
#pragma GCC unroll 16
  for (int j = 0; j < B; ++j) _mm512_store_ps(out + j * L, acc[j]);
}

using RowBlockFn = void (*)(const float*, int64_t, int64_t, const float*, const float*, float*);

template <int S, int SW, int... Bs>
constexpr std::array<RowBlockFn, 17> row_block_table(std::integer_sequence<int, Bs...>) {
  return {{nullptr, &row_block<S, SW, Bs + 1>...}};
}

// One output row of OW pixels: blocks of 16, then one block of the rest.
template <int S, int SW>
void conv_row(const float* in, int64_t ld, int64_t R, const float* taps, const float* bias, float* out, int64_t OW) {
  static constexpr std::array<RowBlockFn, 17> kBlocks = row_block_table<S, SW>(std::make_integer_sequence<int, 16>{});
  int64_t ow = 0;
  for (; ow + 16 <= OW; ow += 16) kBlocks[16](in + ow * SW * L, ld, R, taps, bias, out + ow * L);
  if (ow < OW) kBlocks[OW - ow](in + ow * SW * L, ld, R, taps, bias, out + ow * L);
}

using ConvRowFn = void (*)(const float*, int64_t, int64_t, const float*, const float*, float*, int64_t);

ConvRowFn conv_row_for(int64_t S, int64_t stride) {
  if (stride == 1) return S == 3 ? &conv_row<3, 1> : S == 5 ? &conv_row<5, 1> : &conv_row<7, 1>;
  return S == 3 ? &conv_row<3, 2> : S == 5 ? &conv_row<5, 2> : &conv_row<7, 2>;
}

}  // namespace

void cblock_forward__avx512(const ConvParams& p, const float* x_img, const float* w, const float* bias,
                            int64_t c0, int nc, int64_t oh0, int64_t oh1, const float* residual_img, float* y_img,
                            int act, float* scratch) {
  const int64_t OW = p.output_w(), P = p.output_h() * OW, RS = p.R * p.S;
  const int64_t PW = p.W + p.pad_left + p.pad_right, band = oh1 - oh0;
  const int64_t band_in_rows = (band - 1) * p.stride_h + p.R;
  float* in = scratch;  // band_in_rows x PW vectors
  float* out = in + band_in_rows * PW * L;  // band x OW vectors
  float* taps = out + band * OW * L;  // R*S vectors
  alignas(64) float bias16[L];
  _mm512_store_ps(bias16, _mm512_maskz_loadu_ps(channel_lanes::first_lanes(nc), bias + c0));

  float* tap = taps;
  channel_lanes::channels_to_lanes(w + c0 * RS, RS, nc, 0, RS, [&](__m512 v) {
    _mm512_store_ps(tap, v);
    tap += L;
  });
  channel_lanes::padded_band(x_img, p.H, p.W, p.pad_left, p.pad_right, c0, nc, oh0 * p.stride_h - p.pad_top,
                             band_in_rows, _mm512_setzero_ps(), in);

  const ConvRowFn conv = conv_row_for(p.S, p.stride_w);
  for (int64_t oh = oh0; oh < oh1; ++oh)
    conv(in + (oh - oh0) * p.stride_h * PW * L, PW * L, p.R, taps, bias16, out + (oh - oh0) * OW * L, OW);

  // Back to planes, with the residual and ReLU / ReLU6 on the way.
  const int64_t first = oh0 * OW;
  const __m512 zero = _mm512_setzero_ps(), six = _mm512_set1_ps(6.f);
  channel_lanes::lanes_to_channels(out, band * OW, nc, [&](int ch, int64_t q0, __mmask16 m, __m512 v) {
    const int64_t at = (c0 + ch) * P + first + q0;
    if (residual_img) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, residual_img + at));
    // data second: x86 max/min return their second operand on NaN, so NaN stays NaN
    if (act != 0) v = _mm512_max_ps(zero, v);
    if (act == 2) v = _mm512_min_ps(six, v);
    _mm512_mask_storeu_ps(y_img + at, m, v);
  });
}

}  // namespace depthwise
}  // namespace cnnnative
