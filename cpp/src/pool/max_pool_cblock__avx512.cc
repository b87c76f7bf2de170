// The AVX-512 body of the channel-blocked max pooling (pool/max_pool_cblock.h): 16 planes,
// a band of output rows, the window maxima of each output row in blocks of up to 16 pixels
// kept in registers (each input vector a block touches is loaded once per window row).
#include <immintrin.h>

#include <array>
#include <cmath>
#include <utility>

#include "conv/channel_lanes__avx512.h"
#include "cnnnative/conv_params.h"

namespace cnnnative {
namespace {

using channel_lanes::L;

// The running maximum m takes the tap v when v is greater or NaN.
inline __m512 take(__m512 m, __m512 v) {
  const __mmask16 greater_or_nan = _mm512_cmp_ps_mask(v, m, _CMP_GT_OQ) | _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
  return _mm512_mask_mov_ps(m, greater_or_nan, v);
}

// B output pixels: out[j] = max over r < R, s < S of in[r][j*SW + s] (taps in row-major
// order: for each pixel, its columns come in increasing s within each row r).
template <int S, int SW, int B>
void max_block(const float* in, int64_t ld, int64_t R, float* out) {
  constexpr int kColumns = (B - 1) * SW + S;
  __m512 acc[B];
#pragma GCC unroll 16
  for (int j = 0; j < B; ++j) acc[j] = _mm512_set1_ps(-INFINITY);
  for (int64_t r = 0; r < R; ++r) {
    const float* row = in + r * ld;
#pragma GCC unroll 40
    for (int c = 0; c < kColumns; ++c) {
      const __m512 v = _mm512_load_ps(row + c * L);
#pragma GCC unroll 3
      for (int s = 0; s < S; ++s) {
        const int d = c - s;
        if (d >= 0 && d % SW == 0 && d / SW < B) acc[d / SW] = take(acc[d / SW], v);
      }
    }
  }
#pragma GCC unroll 16
  for (int j = 0; j < B; ++j) _mm512_store_ps(out + j * L, acc[j]);
}

using MaxBlockFn = void (*)(const float*, int64_t, int64_t, float*);

template <int S, int SW, int... Bs>
constexpr std::array<MaxBlockFn, 17> max_block_table(std::integer_sequence<int, Bs...>) {
  return {{nullptr, &max_block<S, SW, Bs + 1>...}};
}

template <int S, int SW>
void max_row(const float* in, int64_t ld, int64_t R, float* out, int64_t OW) {
  static constexpr std::array<MaxBlockFn, 17> kBlocks = max_block_table<S, SW>(std::make_integer_sequence<int, 16>{});
  int64_t ow = 0;
  for (; ow + 16 <= OW; ow += 16) kBlocks[16](in + ow * SW * L, ld, R, out + ow * L);
  if (ow < OW) kBlocks[OW - ow](in + ow * SW * L, ld, R, out + ow * L);
}

using MaxRowFn = void (*)(const float*, int64_t, int64_t, float*, int64_t);

MaxRowFn max_row_for(int64_t S, int64_t stride) {
  if (stride == 1) return S == 2 ? &max_row<2, 1> : &max_row<3, 1>;
  return S == 2 ? &max_row<2, 2> : &max_row<3, 2>;
}

}  // namespace

// p: the pool as a convolution geometry (conv/depthwise_cblock.h's scratch and bands);
// x_img / y_img hold p.C planes.
void max_pool_cblock_band__avx512(const ConvParams& p, const float* x_img, int64_t c0, int nc, int64_t oh0,
                                  int64_t oh1, float* y_img, float* scratch) {
  const int64_t OW = p.output_w(), P = p.output_h() * OW;
  const int64_t PW = p.W + p.pad_left + p.pad_right, band = oh1 - oh0;
  const int64_t band_in_rows = (band - 1) * p.stride_h + p.R;
  float* in = scratch;
  float* out = in + band_in_rows * PW * L;
  channel_lanes::padded_band(x_img, p.H, p.W, p.pad_left, p.pad_right, c0, nc, oh0 * p.stride_h - p.pad_top,
                             band_in_rows, _mm512_set1_ps(-INFINITY), in);
  const MaxRowFn row = max_row_for(p.S, p.stride_w);
  for (int64_t oh = oh0; oh < oh1; ++oh)
    row(in + (oh - oh0) * p.stride_h * PW * L, PW * L, p.R, out + (oh - oh0) * OW * L, OW);
  channel_lanes::lanes_to_channels(out, band * OW, nc, [&](int ch, int64_t q0, __mmask16 m, __m512 v) {
    _mm512_mask_storeu_ps(y_img + (c0 + ch) * P + oh0 * OW + q0, m, v);
  });
}

}  // namespace cnnnative
