// The AVX512-VNNI int8 GEMM kernel: vpdpbusd multiplies 4 consecutive uint8 activations
// by 4 int8 weights and adds the 4 products to an int32 lane, exactly (no int16 stage).
//
// Tile 6 x 64: 24 zmm accumulators (6 rows x 4 vectors of 16 columns), 4 activation
// vectors and one broadcast weight dword per row and k group (vpdpbusd's uint8 operand
// must be the register one, its int8 operand may be a broadcast, so activations are the
// vectors and weights the broadcasts). The latency of vpdpbusd (4-5 cycles at up to 2 per
// cycle) needs about 10 independent chains; 24 leaves margin. Narrow panels (the last
// columns of N) run the 1-, 2- or 3-vector variant, so N pads only to 16 columns.
// GCC 12 warns that _mm512_shuffle_i64x2's own _mm512_undefined_*() "may be used
// uninitialized" once inlined (a known false positive of its headers).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "quant/gemm_s8_kernels.h"
#include "quant/gemm_s8_tile__avx512vnni.h"

namespace cnnnative::quant::detail {
namespace {

using namespace vnni_tile;  // the shared tile pieces: kMr, kKg, dpbusd, col_mask, multiply_add, store
constexpr int kNr = 64;

// dst[g][j][i] = x[4g + i][j]: each 16 columns of 4 rows interleave into 64 bytes.
// Whole groups of a full panel (64 columns, 4 rows) go 64 columns at a time: byte and word
// unpacks leave columns 16L + 4q.. in lane L of vector q, and a 4 x 4 transpose of the
// 128-bit lanes puts them in order (16 shuffles, 4 loads and 4 stores for 256 bytes,
// where the 16-column steps take 32 shuffles, 16 loads and 16 stores).
void pack_x(const uint8_t* x, int64_t ldx, int64_t k_rows, int64_t nc, void* dst) {
  auto* d = static_cast<uint8_t*>(dst);
  const int64_t groups = (k_rows + kKg - 1) / kKg;
  int64_t g = 0;
  if (nc == kNr) {
    for (; (g + 1) * kKg <= k_rows; ++g, d += kNr * kKg) {
      const uint8_t* xg = x + g * kKg * ldx;
      const __m512i r0 = _mm512_loadu_si512(xg), r1 = _mm512_loadu_si512(xg + ldx);
      const __m512i r2 = _mm512_loadu_si512(xg + 2 * ldx), r3 = _mm512_loadu_si512(xg + 3 * ldx);
      const __m512i a = _mm512_unpacklo_epi8(r0, r1), b = _mm512_unpackhi_epi8(r0, r1);
      const __m512i c = _mm512_unpacklo_epi8(r2, r3), e = _mm512_unpackhi_epi8(r2, r3);
      const __m512i o0 = _mm512_unpacklo_epi16(a, c), o1 = _mm512_unpackhi_epi16(a, c);
      const __m512i o2 = _mm512_unpacklo_epi16(b, e), o3 = _mm512_unpackhi_epi16(b, e);
      const __m512i t0 = _mm512_shuffle_i64x2(o0, o1, 0x44), t1 = _mm512_shuffle_i64x2(o0, o1, 0xEE);
      const __m512i t2 = _mm512_shuffle_i64x2(o2, o3, 0x44), t3 = _mm512_shuffle_i64x2(o2, o3, 0xEE);
      _mm512_storeu_si512(d, _mm512_shuffle_i64x2(t0, t2, 0x88));
      _mm512_storeu_si512(d + 64, _mm512_shuffle_i64x2(t0, t2, 0xDD));
      _mm512_storeu_si512(d + 128, _mm512_shuffle_i64x2(t1, t3, 0x88));
      _mm512_storeu_si512(d + 192, _mm512_shuffle_i64x2(t1, t3, 0xDD));
    }
  }
  for (; g < groups; ++g, d += kNr * kKg) {
    for (int64_t j = 0; j < kNr; j += 16) {
      const __mmask16 m = j < nc ? col_mask(nc - j) : 0;
      __m128i r[kKg];
      for (int i = 0; i < kKg; ++i) {
        const int64_t k = g * kKg + i;
        r[i] = k < k_rows ? _mm_maskz_loadu_epi8(m, x + k * ldx + j) : _mm_setzero_si128();
      }
      const __m128i a = _mm_unpacklo_epi8(r[0], r[1]), b = _mm_unpackhi_epi8(r[0], r[1]);
      const __m128i c = _mm_unpacklo_epi8(r[2], r[3]), e = _mm_unpackhi_epi8(r[2], r[3]);
      auto* out = reinterpret_cast<__m128i*>(d + j * kKg);
      _mm_store_si128(out + 0, _mm_unpacklo_epi16(a, c));
      _mm_store_si128(out + 1, _mm_unpackhi_epi16(a, c));
      _mm_store_si128(out + 2, _mm_unpacklo_epi16(b, e));
      _mm_store_si128(out + 3, _mm_unpackhi_epi16(b, e));
    }
  }
}

template <int NV>
void tile_nv(int64_t groups, const int8_t* w, const uint8_t* x, int32_t* c, int64_t ldc, int64_t mrows,
             int64_t ncols, bool accumulate) {
  __m512i acc[kMr][NV];
#pragma GCC unroll 6
  for (int i = 0; i < kMr; ++i)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_setzero_si512();
  for (int64_t g = 0; g < groups; ++g, w += kMr * kKg, x += kNr * kKg) {
    __m512i xv[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) xv[v] = _mm512_load_si512(x + v * 64);
    multiply_add<NV>(acc, xv, w);
  }
  store<NV>(acc, c, ldc, mrows, ncols, accumulate);
}

void tile(int64_t groups, const void* wp, const void* xp, int32_t* c, int64_t ldc, int64_t mrows, int64_t ncols,
          bool accumulate) {
  const auto* w = static_cast<const int8_t*>(wp);
  const auto* x = static_cast<const uint8_t*>(xp);
  switch ((ncols + 15) / 16) {
    case 1: return tile_nv<1>(groups, w, x, c, ldc, mrows, ncols, accumulate);
    case 2: return tile_nv<2>(groups, w, x, c, ldc, mrows, ncols, accumulate);
    case 3: return tile_nv<3>(groups, w, x, c, ldc, mrows, ncols, accumulate);
    default: return tile_nv<4>(groups, w, x, c, ldc, mrows, ncols, accumulate);
  }
}

// The transposed tile: 64 weight rows (4 vectors of 16 output channels) x up to 6 pixels,
// the weights as vectors and each pixel's 4 activations broadcast. Its padding is in M
// (to 64) instead of N (to 16), which suits the late layers of a CNN at batch 1 (N = 49
// pixels, M = 512 or 2048 channels: 77% of the normal tile's lanes do work, all here)
// and linear layers (N = batch). The result comes out as columns of C, stored into
// C^T (rows of 64 contiguous channels) for the caller to transpose.
template <int P>
void sub_t(int64_t groups, const int8_t* w, const uint8_t* x, int32_t* t, int64_t ldt, bool accumulate) {
  __m512i acc[P][4];
#pragma GCC unroll 6
  for (int j = 0; j < P; ++j)
#pragma GCC unroll 4
    for (int v = 0; v < 4; ++v) acc[j][v] = _mm512_setzero_si512();
  for (int64_t g = 0; g < groups; ++g, w += 64 * kKg, x += kNr * kKg)
    multiply_add_t<P>(acc, w, [&](int j) { return x + j * kKg; });
#pragma GCC unroll 6
  for (int j = 0; j < P; ++j)
#pragma GCC unroll 4
    for (int v = 0; v < 4; ++v) {
      int32_t* p = t + j * ldt + v * 16;
      __m512i r = acc[j][v];
      if (accumulate) r = _mm512_add_epi32(r, _mm512_loadu_si512(p));
      _mm512_storeu_si512(p, r);
    }
}

void tile_t(int64_t groups, const void* wp, const void* xp, int32_t* t, int64_t ldt, int64_t mrows, int64_t ncols,
            bool accumulate) {
  const auto* w = static_cast<const int8_t*>(wp);
  const auto* x = static_cast<const uint8_t*>(xp);
  for (int64_t j0 = 0; j0 < ncols; j0 += 6) {
    const uint8_t* xj = x + j0 * kKg;
    int32_t* tj = t + j0 * ldt;
    switch (std::min<int64_t>(6, ncols - j0)) {
      case 1: sub_t<1>(groups, w, xj, tj, ldt, accumulate); break;
      case 2: sub_t<2>(groups, w, xj, tj, ldt, accumulate); break;
      case 3: sub_t<3>(groups, w, xj, tj, ldt, accumulate); break;
      case 4: sub_t<4>(groups, w, xj, tj, ldt, accumulate); break;
      case 5: sub_t<5>(groups, w, xj, tj, ldt, accumulate); break;
      default: sub_t<6>(groups, w, xj, tj, ldt, accumulate); break;
    }
  }
}

}  // namespace

const S8Kernel& s8_kernel_avx512_vnni_t() {
  // Same activation panels as the normal kernel (64 columns, 4-k groups); weights in
  // tiles of 64 rows. kc = 256: 16 KB of weights and 16 KB of panel per k block.
  static const S8Kernel k{"avx512_vnni", 3, 64, kNr, kKg, 1, 1, 256, pack_x, tile_t, true};
  return k;
}

const S8Kernel& s8_kernel_avx512_vnni() {
  // kc = 256: the panel slice is 256 x 64 bytes = 16 KB of L1.
  static const S8Kernel k{"avx512_vnni", 2, kMr, kNr, kKg, 1, 1, 256, pack_x, tile};
  return k;
}

}  // namespace cnnnative::quant::detail
