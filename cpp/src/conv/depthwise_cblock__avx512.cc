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
#include "gemm/transpose16x16__avx512.h"

namespace cnnnative {
namespace depthwise {
namespace {

constexpr int L = kCBlockLanes;

inline __mmask16 first_lanes(int64_t n) { return n >= 16 ? __mmask16(0xFFFF) : static_cast<__mmask16>((1u << n) - 1u); }

// Rows src + ch * ld for ch < nc (the other lanes read as zero), positions [begin, end):
// put(v) is called once per position, in order, with that position's 16 channels.
template <class Put>
inline void channels_to_lanes(const float* src, int64_t ld, int nc, int64_t begin, int64_t end, Put put) {
  for (int64_t q0 = begin; q0 < end; q0 += 16) {
    const int64_t count = std::min<int64_t>(16, end - q0);
    const __mmask16 m = first_lanes(count);
    __m512 r[16];
    for (int ch = 0; ch < 16; ++ch) r[ch] = ch < nc ? _mm512_maskz_loadu_ps(m, src + ch * ld + q0) : _mm512_setzero_ps();
    gemm_detail::transpose16x16(r);
    for (int64_t j = 0; j < count; ++j) put(r[j]);
  }
}

// B output pixels of one row: out[j] = bias + sum_{r,s} taps[r*S+s] * in[r][j*SW + s],
// where in[r] is the padded copy's row r (ld floats apart) starting at the block's first
// input column. Input column c of the block feeds pixel j through tap s = c - j*SW.
template <int S, int SW, int B>
void row_block(const float* in, int64_t ld, int64_t R, const float* taps, const float* bias, float* out) {
  constexpr int kColumns = (B - 1) * SW + S;
  __m512 acc[B];
  const __m512 b = _mm512_load_ps(bias);
#pragma GCC unroll 16
  for (int j = 0; j < B; ++j) acc[j] = b;
  for (int64_t r = 0; r < R; ++r) {
    const float* row = in + r * ld;
    __m512 w[S];
#pragma GCC unroll 7
    for (int s = 0; s < S; ++s) w[s] = _mm512_load_ps(taps + (r * S + s) * L);
#pragma GCC unroll 40
    for (int c = 0; c < kColumns; ++c) {
      const __m512 v = _mm512_load_ps(row + c * L);
#pragma GCC unroll 7
      for (int s = 0; s < S; ++s) {
        const int d = c - s;
        if (d >= 0 && d % SW == 0 && d / SW < B) acc[d / SW] = _mm512_fmadd_ps(w[s], v, acc[d / SW]);
      }
    }
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

inline void zero_vectors(float* dst, int64_t vectors) {
  for (int64_t i = 0; i < vectors; ++i) _mm512_store_ps(dst + i * L, _mm512_setzero_ps());
}

}  // namespace

void cblock_forward__avx512(const ConvParams& p, const float* x_img, const float* w, const float* bias,
                            int64_t c0, int nc, int64_t oh0, int64_t oh1, const float* residual_img, float* y_img,
                            int act, float* scratch) {
  const int64_t OW = p.output_w(), P = p.output_h() * OW, HW = p.H * p.W, RS = p.R * p.S;
  const int64_t PW = p.W + p.pad_left + p.pad_right, band = oh1 - oh0;
  const int64_t band_in_rows = (band - 1) * p.stride_h + p.R;
  float* in = scratch;  // band_in_rows x PW vectors
  float* out = in + band_in_rows * PW * L;  // band x OW vectors
  float* taps = out + band * OW * L;  // R*S vectors
  alignas(64) float bias16[L];
  _mm512_store_ps(bias16, _mm512_maskz_loadu_ps(first_lanes(nc), bias + c0));

  float* tap = taps;
  channels_to_lanes(w + c0 * RS, RS, nc, 0, RS, [&](__m512 v) {
    _mm512_store_ps(tap, v);
    tap += L;
  });

  // The padded copy: rows outside the image and the border columns are zeros.
  const int64_t ih_first = oh0 * p.stride_h - p.pad_top;
  const int64_t ih_begin = std::max<int64_t>(0, ih_first), ih_end = std::min(p.H, ih_first + band_in_rows);
  for (int64_t i = 0; i < band_in_rows; ++i) {
    float* row = in + i * PW * L;
    const int64_t ih = ih_first + i;
    if (ih < ih_begin || ih >= ih_end) {
      zero_vectors(row, PW);
    } else {
      zero_vectors(row, p.pad_left);
      zero_vectors(row + (p.pad_left + p.W) * L, p.pad_right);
    }
  }
  if (ih_end > ih_begin) {
    float* dst = in + ((ih_begin - ih_first) * PW + p.pad_left) * L;
    int64_t iw = 0;
    channels_to_lanes(x_img + c0 * HW, HW, nc, ih_begin * p.W, ih_end * p.W, [&](__m512 v) {
      _mm512_store_ps(dst, v);
      dst += L;
      if (++iw == p.W) {  // next input row: skip the right and left padding
        iw = 0;
        dst += (PW - p.W) * L;
      }
    });
  }

  const ConvRowFn conv = conv_row_for(p.S, p.stride_w);
  for (int64_t oh = oh0; oh < oh1; ++oh)
    conv(in + (oh - oh0) * p.stride_h * PW * L, PW * L, p.R, taps, bias16, out + (oh - oh0) * OW * L, OW);

  // Back to planes: 16 output pixels x 16 channels per transpose.
  const int64_t first = oh0 * OW, count_all = band * OW;
  const __m512 zero = _mm512_setzero_ps(), six = _mm512_set1_ps(6.f);
  for (int64_t q0 = 0; q0 < count_all; q0 += 16) {
    const int64_t count = std::min<int64_t>(16, count_all - q0);
    const __mmask16 m = first_lanes(count);
    __m512 r[16];
    for (int64_t j = 0; j < 16; ++j) r[j] = j < count ? _mm512_load_ps(out + (q0 + j) * L) : zero;
    gemm_detail::transpose16x16(r);
    for (int ch = 0; ch < nc; ++ch) {
      const int64_t at = (c0 + ch) * P + first + q0;
      __m512 v = r[ch];
      if (residual_img) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, residual_img + at));
      // data second: x86 max/min return their second operand on NaN, so NaN stays NaN
      if (act != 0) v = _mm512_max_ps(zero, v);
      if (act == 2) v = _mm512_min_ps(six, v);
      _mm512_mask_storeu_ps(y_img + at, m, v);
    }
  }
}

}  // namespace depthwise
}  // namespace cnnnative
