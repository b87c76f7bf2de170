// AVX-512: unfold a pixel block straight into the MR-pixel panels the prepacked GEMM
// reads (no row-major im2col in between, no second packing pass).
//
// For each depth row k = (c, r, s) a panel needs the MR values of its pixels: one masked
// store. When the panel's pixels lie in one output row and the stride is 1 (ResNet: the
// output width is a multiple of 7), they are consecutive input values: one masked load,
// the mask dropping the padding columns; with stride 2, two loads and a shuffle keeping
// every other value. Otherwise (other strides, panels across rows) a masked gather
// (slow on AMD: 0.3 ms for ResNet's 28 -> 14 conv, against 0.1 ms with the loads). Either way the padding is 0 and lanes past the block are 0.
#include <immintrin.h>

#include "engine/kernels.h"

namespace cnnnative {
namespace engine {

bool unfold_panels_fits__avx512(const ConvParams& p, int mr) {
  // 32-bit gather offsets within one channel plane; panels of at most 16 pixels.
  return mr <= 16 && p.H * p.W < (int64_t{1} << 30) && p.H < (1 << 20) && p.W < (1 << 20);
}

void unfold_panels__avx512(const ConvParams& p, const float* x, int64_t k0, int64_t kb, int64_t n0, int64_t cols,
                           int mr, float* dst) {
  const int64_t OW = p.output_w();
  const int R = int(p.R), S = int(p.S);
  const int H = int(p.H), W = int(p.W);
  const __mmask16 panel_mask = __mmask16((1u << mr) - 1u);
  const __m512i lane = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
  const __m512i lane16 = _mm512_add_epi32(lane, _mm512_set1_epi32(16));
  const __m512i even = _mm512_add_epi32(lane, lane);  // 0, 2, ..., 30 of the 32 loaded values
  const __m512i zero_i = _mm512_setzero_si512(), h_vec = _mm512_set1_epi32(H), w_vec = _mm512_set1_epi32(W);
  for (int64_t i0 = 0; i0 < cols; i0 += mr, dst += mr * kb) {
    const int valid = int(std::min<int64_t>(mr, cols - i0));
    const __mmask16 valid_mask = __mmask16((1u << valid) - 1u);
    // Output coordinates of the panel's pixels (lanes past `valid` are masked off).
    const int64_t first = n0 + i0, last = first + valid - 1;
    const int oh0 = int(first / OW), ow0 = int(first % OW);
    const bool one_row = last / OW == oh0;
    alignas(64) int bh[16], bw[16];
    for (int l = 0; l < 16; ++l) {
      const int64_t pix = first + std::min(l, valid - 1);
      bh[l] = int((pix / OW) * p.stride_h - p.pad_top);
      bw[l] = int((pix % OW) * p.stride_w - p.pad_left);
    }
    const __m512i base_h = _mm512_load_si512(bh), base_w = _mm512_load_si512(bw);
    // How the panel reads one depth row: 0 gather, 1 one load (stride 1), 2 two loads
    // and a shuffle keeping every other value (stride 2). The loads' masks depend only on
    // the tap column s and the row's bounds only on the tap row r: both are set up once
    // per panel (kernels up to 16 x 16; larger ones gather).
    const int mode = !one_row || R > 16 || S > 16 ? 0 : p.stride_w == 1 ? 1 : p.stride_w == 2 ? 2 : 0;
    const int row_h = int(oh0 * p.stride_h - p.pad_top), row_w = int(ow0 * p.stride_w - p.pad_left);
    __mmask16 out_mask[16], lo_mask[16], hi_mask[16];  // per tap column s
    int64_t row_offset[16];                            // per tap row r (may be < 0: padding)
    bool row_inside[16];                               // per tap row r
    if (mode != 0) {
      for (int ss = 0; ss < S; ++ss) {
        const int ds = ss * int(p.dilation_w);
        const __m512i iw = _mm512_add_epi32(base_w, _mm512_set1_epi32(ds));
        out_mask[ss] = valid_mask & _mm512_cmpge_epi32_mask(iw, zero_i) & _mm512_cmplt_epi32_mask(iw, w_vec);
        // Stride 2: input columns row_w + ds + j, j < 32, that lie inside the row.
        const __m512i start = _mm512_set1_epi32(row_w + ds);
        const __m512i j_lo = _mm512_add_epi32(start, lane), j_hi = _mm512_add_epi32(start, lane16);
        lo_mask[ss] = _mm512_cmpge_epi32_mask(j_lo, zero_i) & _mm512_cmplt_epi32_mask(j_lo, w_vec);
        hi_mask[ss] = _mm512_cmpge_epi32_mask(j_hi, zero_i) & _mm512_cmplt_epi32_mask(j_hi, w_vec);
      }
      for (int rr = 0; rr < R; ++rr) {
        const int ih = row_h + rr * int(p.dilation_h);
        row_inside[rr] = ih >= 0 && ih < H;
        row_offset[rr] = row_inside[rr] ? int64_t(ih) * W + row_w : 0;
      }
    }
    int64_t c = k0 / (R * S);
    int r = int((k0 / S) % R), s = int(k0 % S);
    float* d = dst;
    for (int64_t k = 0; k < kb; ++k, d += mr) {
      const float* xc = x + c * p.H * p.W;
      __m512 v;
      if (mode != 0) {
        const bool inside = row_inside[r];
        // The row's input values from column row_w + ds on; masked lanes are not touched.
        const float* src = xc + row_offset[r] + s * p.dilation_w;
        if (mode == 1) {
          v = _mm512_maskz_loadu_ps(inside ? out_mask[s] : 0, src);
        } else {
          const __m512 lo = _mm512_maskz_loadu_ps(inside ? lo_mask[s] : 0, src);
          const __m512 hi = _mm512_maskz_loadu_ps(inside ? hi_mask[s] : 0, src + 16);
          v = _mm512_maskz_permutex2var_ps(inside ? out_mask[s] : 0, lo, even, hi);
        }
      } else {
        const int dr = r * int(p.dilation_h), ds = s * int(p.dilation_w);
        const __m512i iw = _mm512_add_epi32(base_w, _mm512_set1_epi32(ds));
        const __m512i ih = _mm512_add_epi32(base_h, _mm512_set1_epi32(dr));
        const __mmask16 m = valid_mask & _mm512_cmpge_epi32_mask(iw, zero_i) & _mm512_cmplt_epi32_mask(iw, w_vec) &
                            _mm512_cmpge_epi32_mask(ih, zero_i) & _mm512_cmplt_epi32_mask(ih, h_vec);
        const __m512i idx = _mm512_add_epi32(_mm512_mullo_epi32(ih, w_vec), iw);
        v = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m, idx, xc, 4);
      }
      _mm512_mask_storeu_ps(d, panel_mask, v);
      if (++s == S) {
        s = 0;
        if (++r == R) r = 0, ++c;
      }
    }
  }
}

}  // namespace engine
}  // namespace cnnnative
