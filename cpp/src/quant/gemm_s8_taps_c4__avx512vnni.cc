// The AVX512-VNNI tile of gemm_s8u8_s32_taps_c4 (gemm_s8_taps.cc drives it): the image
// is stored with 4 channels interleaved per pixel ([channel quad][pixel][4] bytes), which
// is already the layout vpdpbusd wants (16 pixels x 4 channels = one zmm), so each tap's
// 64 columns are 4 unaligned loads straight from the padded image, at the tap's offset:
// no packed copy of X per panel and tap. The 24 int32 accumulators (6 rows x 64 columns)
// stay in registers over all taps and channel quads and are stored once: the general
// GEMM tile stores and reloads them every k block of 256 (9 times for 256 channels).
// GCC 12 warns that _mm512_shuffle_i64x2's own _mm512_undefined_*() "may be used
// uninitialized" once inlined (a known false positive of its headers).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
// Weights are the normal VNNI tile's ([k group][6 rows][4]) in (tap, channel) order, so
// tap t of quad q is group t * tap_groups + q.
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "quant/gemm_s8_kernels.h"
#include "quant/gemm_s8_tile__avx512vnni.h"

namespace cnnnative::quant::detail {
namespace {

using namespace vnni_tile;  // the shared tile pieces: kMr, kKg, dpbusd, col_mask, multiply_add, store

template <int NV>
void taps_tile_nv(const TapsC4Args& a, const int8_t* w, const uint8_t* x, int32_t* c, int64_t mrows, int64_t ncols) {
  __m512i acc[kMr][NV];
#pragma GCC unroll 6
  for (int i = 0; i < kMr; ++i)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_setzero_si512();
  const int64_t w_tap = a.tap_groups * kMr * kKg;
  for (int64_t q = 0; q < a.quads; ++q, x += a.quad_stride, w += kMr * kKg) {
    const int8_t* wt = w;
    for (int64_t t = 0; t < a.taps; ++t, wt += w_tap) {
      const uint8_t* xt = x + a.tap_bytes[t];
      __m512i xv[NV];
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) xv[v] = _mm512_loadu_si512(xt + v * 64);
      multiply_add<NV>(acc, xv, wt);
    }
  }
  store<NV>(acc, c, a.ldc, mrows, ncols, /*accumulate=*/false);
}

// The lanes-along-M tile: 64 weight rows (4 vectors of 16 output channels, the transposed
// VNNI kernel's weight tiles) x P listed pixels, each pixel's 4 channels broadcast. It
// computes exactly the pixels it is given (no 16-column rounding, no padding columns of
// the extended grid), for images of few pixels (14x14, 7x7). Writes T[j][0:64] for pixel j.
template <int P>
void taps_tile_t(const TapsC4Args& a, const int8_t* w, const uint8_t* x, const int64_t* pix, int32_t* t) {
  __m512i acc[P][4];
#pragma GCC unroll 6
  for (int j = 0; j < P; ++j)
#pragma GCC unroll 4
    for (int v = 0; v < 4; ++v) acc[j][v] = _mm512_setzero_si512();
  const int64_t w_tap = a.tap_groups * 64 * kKg;
  const uint8_t* xp[P];
#pragma GCC unroll 6
  for (int j = 0; j < P; ++j) xp[j] = x + pix[j];
  for (int64_t q = 0; q < a.quads; ++q, w += 64 * kKg) {
    const int8_t* wt = w;
    const int64_t qo = q * a.quad_stride;
    for (int64_t tp = 0; tp < a.taps; ++tp, wt += w_tap) {
      const int64_t o = qo + a.tap_bytes[tp];
      multiply_add_t<P>(acc, wt, [&](int j) { return xp[j] + o; });
    }
  }
#pragma GCC unroll 6
  for (int j = 0; j < P; ++j)
#pragma GCC unroll 4
    for (int v = 0; v < 4; ++v) _mm512_storeu_si512(t + j * 64 + v * 16, acc[j][v]);
}

}  // namespace

void s8_taps_c4t_tile_avx512_vnni(const TapsC4Args& a, const int8_t* w, const uint8_t* x, const int64_t* pix_bytes,
                                  int64_t P, int32_t* t) {
  switch (P) {
    case 1: return taps_tile_t<1>(a, w, x, pix_bytes, t);
    case 2: return taps_tile_t<2>(a, w, x, pix_bytes, t);
    case 3: return taps_tile_t<3>(a, w, x, pix_bytes, t);
    case 4: return taps_tile_t<4>(a, w, x, pix_bytes, t);
    case 5: return taps_tile_t<5>(a, w, x, pix_bytes, t);
    default: return taps_tile_t<6>(a, w, x, pix_bytes, t);
  }
}

namespace {
inline __mmask64 mask64(int64_t m) {
  return m >= 64 ? ~__mmask64{0} : m <= 0 ? __mmask64{0} : (__mmask64{1} << m) - 1;
}

// Pixels i .. i + m - 1 (m <= 64) of dst from byte j of r[c] = channel c of pixel i + j.
// As the VNNI pack_x: byte and word unpacks, then a 4 x 4 transpose of 128-bit lanes.
inline void store4(const __m512i r[4], int64_t i, int64_t m, uint8_t* dst) {
  const __m512i a = _mm512_unpacklo_epi8(r[0], r[1]), b = _mm512_unpackhi_epi8(r[0], r[1]);
  const __m512i c = _mm512_unpacklo_epi8(r[2], r[3]), e = _mm512_unpackhi_epi8(r[2], r[3]);
  const __m512i o0 = _mm512_unpacklo_epi16(a, c), o1 = _mm512_unpackhi_epi16(a, c);
  const __m512i o2 = _mm512_unpacklo_epi16(b, e), o3 = _mm512_unpackhi_epi16(b, e);
  const __m512i t0 = _mm512_shuffle_i64x2(o0, o1, 0x44), t1 = _mm512_shuffle_i64x2(o0, o1, 0xEE);
  const __m512i t2 = _mm512_shuffle_i64x2(o2, o3, 0x44), t3 = _mm512_shuffle_i64x2(o2, o3, 0xEE);
  const __m512i d[4] = {_mm512_shuffle_i64x2(t0, t2, 0x88), _mm512_shuffle_i64x2(t0, t2, 0xDD),
                        _mm512_shuffle_i64x2(t1, t3, 0x88), _mm512_shuffle_i64x2(t1, t3, 0xDD)};
  for (int k = 0; k < 4 && 16 * k < m; ++k)
    _mm512_mask_storeu_epi32(dst + 4 * (i + 16 * k), col_mask(m - 16 * k), d[k]);
}
}  // namespace

// Masked 64-byte loads and 16-pixel stores, so a row of any length has no scalar tail
// (rows of 14 or 28 pixels are most of a row at the 3x3 layers' sizes).
void interleave4_u8_avx512(const uint8_t* const s[4], int64_t n, int64_t step, uint8_t* dst) {
  const __m512i lo8 = _mm512_set1_epi16(0x00FF);
  const __m512i qidx = _mm512_setr_epi64(0, 2, 4, 6, 1, 3, 5, 7);
  for (int64_t i = 0; i < n; i += 64) {
    const int64_t m = std::min<int64_t>(64, n - i);
    __m512i r[4];
    for (int j = 0; j < 4; ++j) {
      if (step == 1) {
        r[j] = _mm512_maskz_loadu_epi8(mask64(m), s[j] + i);
      } else {  // even bytes of 2m - 1: packus leaves 8-byte runs per lane, qidx orders them
        const int64_t bytes = 2 * m - 1;
        const __m512i a = _mm512_maskz_loadu_epi8(mask64(bytes), s[j] + 2 * i);
        const __m512i b = _mm512_maskz_loadu_epi8(mask64(bytes - 64), s[j] + 2 * i + 64);
        r[j] = _mm512_permutexvar_epi64(qidx, _mm512_packus_epi16(_mm512_and_si512(a, lo8), _mm512_and_si512(b, lo8)));
      }
    }
    store4(r, i, m, dst);
  }
}

// Both phases of a stride-2 row from one pass over the source bytes (each channel row
// loaded once): the per-phase calls of interleave4_u8 took 10-15% of the 3x3 stride-2
// layers (their rows are 7 to 28 pixels per phase).
void split_interleave4_u8_avx512(const uint8_t* const s[4], int64_t n, uint8_t* even, uint8_t* odd) {
  const __m512i lo8 = _mm512_set1_epi16(0x00FF);
  const __m512i qidx = _mm512_setr_epi64(0, 2, 4, 6, 1, 3, 5, 7);
  const int64_t n_even = (n + 1) / 2, n_odd = n / 2;
  for (int64_t i = 0; i < n_even; i += 64) {
    const int64_t rem = n - 2 * i;  // source bytes left
    __m512i re[4], ro[4];
    for (int j = 0; j < 4; ++j) {
      const __m512i a = _mm512_maskz_loadu_epi8(mask64(rem), s[j] + 2 * i);
      const __m512i b = _mm512_maskz_loadu_epi8(mask64(rem - 64), s[j] + 2 * i + 64);
      re[j] = _mm512_permutexvar_epi64(qidx, _mm512_packus_epi16(_mm512_and_si512(a, lo8), _mm512_and_si512(b, lo8)));
      ro[j] = _mm512_permutexvar_epi64(qidx, _mm512_packus_epi16(_mm512_srli_epi16(a, 8), _mm512_srli_epi16(b, 8)));
    }
    store4(re, i, std::min<int64_t>(64, n_even - i), even);
    if (n_odd > i) store4(ro, i, std::min<int64_t>(64, n_odd - i), odd);
  }
}

void s8_taps_c4_tile_avx512_vnni(const TapsC4Args& a, const int8_t* w, const uint8_t* x, int32_t* c,
                                 int64_t mrows, int64_t ncols) {
  switch ((ncols + 15) / 16) {
    case 1: return taps_tile_nv<1>(a, w, x, c, mrows, ncols);
    case 2: return taps_tile_nv<2>(a, w, x, c, mrows, ncols);
    case 3: return taps_tile_nv<3>(a, w, x, c, mrows, ncols);
    default: return taps_tile_nv<4>(a, w, x, c, mrows, ncols);
  }
}

}  // namespace cnnnative::quant::detail
