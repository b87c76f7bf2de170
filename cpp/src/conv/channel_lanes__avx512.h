// Moving 16 channels of an NCHW image into the lanes of AVX-512 vectors and back, for the
// kernels that compute with one vector per pixel (depthwise_cblock__avx512.cc,
// pool/pool_cblock__avx512.cc): 16 x 16 register transposes, a zero- or -inf-padded
// band of input rows, and the way back with a per-channel store.
// Internal linkage: include only from __avx512 files.
#pragma once
#include <immintrin.h>

#include <algorithm>
#include <cstdint>

#include "conv/depthwise_cblock.h"
#include "gemm/transpose16x16__avx512.h"

namespace cnnnative {
namespace channel_lanes {
namespace {

constexpr int L = depthwise::kCBlockLanes;

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

inline void fill_vectors(float* dst, int64_t vectors, __m512 value) {
  for (int64_t i = 0; i < vectors; ++i) _mm512_store_ps(dst + i * L, value);
}

// The padded copy of input rows ih_first .. ih_first + rows - 1 of channels [c0, c0 + nc)
// of x_img (C x H x W): `rows` rows of PW = pad_left + W + pad_right pixel vectors, `fill`
// (0 for a convolution, -inf for max pooling) outside the image.
inline void padded_band(const float* x_img, int64_t H, int64_t W, int64_t pad_left, int64_t pad_right, int64_t c0,
                        int nc, int64_t ih_first, int64_t rows, __m512 fill, float* in) {
  const int64_t PW = W + pad_left + pad_right;
  const int64_t ih_begin = std::max<int64_t>(0, ih_first), ih_end = std::min(H, ih_first + rows);
  for (int64_t i = 0; i < rows; ++i) {
    float* row = in + i * PW * L;
    const int64_t ih = ih_first + i;
    if (ih < ih_begin || ih >= ih_end) {
      fill_vectors(row, PW, fill);
    } else {
      fill_vectors(row, pad_left, fill);
      fill_vectors(row + (pad_left + W) * L, pad_right, fill);
    }
  }
  if (ih_end <= ih_begin) return;
  float* dst = in + ((ih_begin - ih_first) * PW + pad_left) * L;
  int64_t iw = 0;
  channels_to_lanes(x_img + c0 * H * W, H * W, nc, ih_begin * W, ih_end * W, [&](__m512 v) {
    _mm512_store_ps(dst, v);
    dst += L;
    if (++iw == W) {  // next input row: skip the right and left padding
      iw = 0;
      dst += (PW - W) * L;
    }
  });
}

// One kernel row of a block of B output pixels (stride SW, S taps wide) over `row`, the
// padded copy's row at the block's first input column: each input vector the block touches
// is loaded once and step(j, s, v) is called for every output pixel j < B and tap s < S that
// reads it (input column j * SW + s). For each pixel the taps come in increasing s.
template <int S, int SW, int B, class Step>
inline void for_each_tap_of_row(const float* row, Step step) {
  constexpr int kColumns = (B - 1) * SW + S;
#pragma GCC unroll 40
  for (int c = 0; c < kColumns; ++c) {
    const __m512 v = _mm512_load_ps(row + c * L);
#pragma GCC unroll 7
    for (int s = 0; s < S; ++s) {
      const int d = c - s;
      if (d >= 0 && d % SW == 0 && d / SW < B) step(d / SW, s, v);
    }
  }
}

// The way back: `count_all` pixel vectors at `out` become 16-pixel runs of each channel
// ch < nc; store(ch, q0, mask, v) writes the run of positions q0 .. q0 + 15 (mask: those
// that exist).
template <class Store>
inline void lanes_to_channels(const float* out, int64_t count_all, int nc, Store store) {
  const __m512 zero = _mm512_setzero_ps();
  for (int64_t q0 = 0; q0 < count_all; q0 += 16) {
    const int64_t count = std::min<int64_t>(16, count_all - q0);
    __m512 r[16];
    for (int64_t j = 0; j < 16; ++j) r[j] = j < count ? _mm512_load_ps(out + (q0 + j) * L) : zero;
    gemm_detail::transpose16x16(r);
    const __mmask16 m = first_lanes(count);
    for (int ch = 0; ch < nc; ++ch) store(ch, q0, m, r[ch]);
  }
}

}  // namespace
}  // namespace channel_lanes
}  // namespace cnnnative
