// The AVX-512 body of the channel-blocked pooling (pool/pool_cblock.h): 16 planes, a band of
// output rows, the window maxima or sums of each output row in blocks of up to 16 pixels kept
// in registers (each input vector a block touches is loaded once per window row).
#include <immintrin.h>

#include <array>
#include <cmath>
#include <utility>

#include "cnnnative/conv_params.h"
#include "conv/channel_lanes__avx512.h"

namespace cnnnative {
namespace {

using channel_lanes::L;

// The running maximum m takes the tap v when v is greater or NaN: vmaxps(v, m) is
// v > m ? v : m (m on ties and on any NaN), then a NaN v replaces it.
inline __m512 take(__m512 m, __m512 v) {
  return _mm512_mask_mov_ps(_mm512_max_ps(v, m), _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q), v);
}

// B output pixels: out[j] = max (AVG: sum from 0) over r < R, s < S of in[r][j*SW + s], taps
// in row-major order (for each pixel its columns come in increasing s within each row r).
template <bool AVG, int S, int SW, int B>
void window_block(const float* in, int64_t ld, int64_t R, float* out) {
  __m512 acc[B];
#pragma GCC unroll 16
  for (int j = 0; j < B; ++j) acc[j] = AVG ? _mm512_setzero_ps() : _mm512_set1_ps(-INFINITY);
  for (int64_t r = 0; r < R; ++r) {
    channel_lanes::for_each_tap_of_row<S, SW, B>(in + r * ld, [&](int j, int, __m512 v) {
      acc[j] = AVG ? _mm512_add_ps(acc[j], v) : take(acc[j], v);
    });
  }
#pragma GCC unroll 16
  for (int j = 0; j < B; ++j) _mm512_store_ps(out + j * L, acc[j]);
}

using BlockFn = void (*)(const float*, int64_t, int64_t, float*);

template <bool AVG, int S, int SW, int... Bs>
constexpr std::array<BlockFn, 17> block_table(std::integer_sequence<int, Bs...>) {
  return {{nullptr, &window_block<AVG, S, SW, Bs + 1>...}};
}

template <bool AVG, int S, int SW>
void window_row(const float* in, int64_t ld, int64_t R, float* out, int64_t OW) {
  static constexpr std::array<BlockFn, 17> kBlocks = block_table<AVG, S, SW>(std::make_integer_sequence<int, 16>{});
  int64_t ow = 0;
  for (; ow + 16 <= OW; ow += 16) kBlocks[16](in + ow * SW * L, ld, R, out + ow * L);
  if (ow < OW) kBlocks[OW - ow](in + ow * SW * L, ld, R, out + ow * L);
}

using RowFn = void (*)(const float*, int64_t, int64_t, float*, int64_t);

template <bool AVG>
RowFn row_for(int64_t S, int64_t stride) {
  if (stride == 1) return S == 2 ? &window_row<AVG, 2, 1> : &window_row<AVG, 3, 1>;
  return S == 2 ? &window_row<AVG, 2, 2> : &window_row<AVG, 3, 2>;
}

}  // namespace

// p: the pool as a convolution geometry (conv/depthwise_cblock.h's scratch and bands);
// x_img / y_img hold p.C planes. divisors: null for max pooling, else OH x OW.
void pool_cblock_band__avx512(const ConvParams& p, const float* divisors, const float* x_img, int64_t c0, int nc,
                              int64_t oh0, int64_t oh1, float* y_img, float* scratch) {
  const bool avg = divisors != nullptr;
  const int64_t OW = p.output_w(), P = p.output_h() * OW;
  const int64_t PW = p.W + p.pad_left + p.pad_right, band = oh1 - oh0;
  const int64_t band_in_rows = (band - 1) * p.stride_h + p.R;
  float* in = scratch;
  float* out = in + band_in_rows * PW * L;
  channel_lanes::padded_band(x_img, p.H, p.W, p.pad_left, p.pad_right, c0, nc, oh0 * p.stride_h - p.pad_top,
                             band_in_rows, avg ? _mm512_setzero_ps() : _mm512_set1_ps(-INFINITY), in);
  const RowFn row = avg ? row_for<true>(p.S, p.stride_w) : row_for<false>(p.S, p.stride_w);
  for (int64_t oh = oh0; oh < oh1; ++oh)
    row(in + (oh - oh0) * p.stride_h * PW * L, PW * L, p.R, out + (oh - oh0) * OW * L, OW);
  if (avg) {  // PyTorch's divisor per pixel (0: a window without input gives 0)
    const float* d = divisors + oh0 * OW;
    for (int64_t q = 0; q < band * OW; ++q) {
      const __m512 v = _mm512_load_ps(out + q * L);
      _mm512_store_ps(out + q * L, d[q] == 0.f ? _mm512_setzero_ps() : _mm512_div_ps(v, _mm512_set1_ps(d[q])));
    }
  }
  channel_lanes::lanes_to_channels(out, band * OW, nc, [&](int ch, int64_t q0, __mmask16 m, __m512 v) {
    _mm512_mask_storeu_ps(y_img + (c0 + ch) * P + oh0 * OW + q0, m, v);
  });
}

}  // namespace cnnnative
