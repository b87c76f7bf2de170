// The pieces of the AVX512-VNNI 6 x (16 NV) int8 tile that the GEMM kernel
// (gemm_s8__avx512vnni.cc) and the 4-channel taps kernel (gemm_s8_taps_c4__avx512vnni.cc)
// share: the tied vpdpbusd, one k group's multiply-adds into the 6 x NV accumulators (and
// into the transposed tile's P x 4), and
// the int32 store of a whole or ragged tile. Include only from sources compiled with the
// AVX512-VNNI flags.
#pragma once
#include <immintrin.h>

#include <cstdint>
#include <cstring>

namespace cnnnative::quant::detail::vnni_tile {

constexpr int kMr = 6, kKg = 4;  // rows per tile; activations (and weights) per dword

// vpdpbusd with its accumulator tied in asm: GCC 12's own pattern for the intrinsic
// copies every accumulator around each instruction (measured: twice the instructions
// and stack spills in the 6x64 loop, half the speed).
inline __m512i dpbusd(__m512i acc, __m512i u8, __m512i s8) {
  asm("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(u8), "v"(s8));
  return acc;
}

inline __mmask16 col_mask(int64_t cols) { return cols >= 16 ? 0xFFFF : static_cast<__mmask16>((1u << cols) - 1); }

// acc[i][v] += the 4 activations of xv[v]'s lanes times row i's 4 weights at w + i * kKg
// (one broadcast weight dword per row, the activations the register operand).
template <int NV>
inline void multiply_add(__m512i (&acc)[kMr][NV], const __m512i (&xv)[NV], const int8_t* w) {
#pragma GCC unroll 6
  for (int i = 0; i < kMr; ++i) {
    int32_t wd;
    std::memcpy(&wd, w + i * kKg, sizeof wd);
    const __m512i wb = _mm512_set1_epi32(wd);
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[i][v] = dpbusd(acc[i][v], xv[v], wb);
  }
}

// The transposed tile's k group: acc[j][v] += pixel j's 4 activations (the dword at
// pixel(j)) times the 64 weight rows' 4 weights at w (4 vectors of 16 rows).
template <int P, typename Pixel>
inline void multiply_add_t(__m512i (&acc)[P][4], const int8_t* w, Pixel&& pixel) {
  __m512i wv[4];
#pragma GCC unroll 4
  for (int v = 0; v < 4; ++v) wv[v] = _mm512_loadu_si512(w + v * 64);  // packed weights: 16-byte aligned
#pragma GCC unroll 6
  for (int j = 0; j < P; ++j) {
    int32_t xd;
    std::memcpy(&xd, pixel(j), sizeof xd);
    const __m512i xb = _mm512_set1_epi32(xd);
#pragma GCC unroll 4
    for (int v = 0; v < 4; ++v) acc[j][v] = dpbusd(acc[j][v], xb, wv[v]);
  }
}

// c[i][0:ncols] (+)= acc[i] for i < mrows: plain stores for a whole tile, masked ones for
// the ragged last rows and columns.
template <int NV>
inline void store(const __m512i (&acc)[kMr][NV], int32_t* c, int64_t ldc, int64_t mrows, int64_t ncols,
                  bool accumulate) {
  if (mrows == kMr && ncols == NV * 16) {
#pragma GCC unroll 6
    for (int i = 0; i < kMr; ++i)
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) {
        int32_t* p = c + i * ldc + v * 16;
        __m512i r = acc[i][v];
        if (accumulate) r = _mm512_add_epi32(r, _mm512_loadu_si512(p));
        _mm512_storeu_si512(p, r);
      }
    return;
  }
  __mmask16 m[NV];
#pragma GCC unroll 4
  for (int v = 0; v < NV; ++v) m[v] = col_mask(ncols - v * 16);
#pragma GCC unroll 6
  for (int i = 0; i < kMr; ++i) {
    if (i >= mrows) break;
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      int32_t* p = c + i * ldc + v * 16;
      __m512i r = acc[i][v];
      if (accumulate) r = _mm512_add_epi32(r, _mm512_maskz_loadu_epi32(m[v], p));
      _mm512_mask_storeu_epi32(p, m[v], r);
    }
  }
}

}  // namespace cnnnative::quant::detail::vnni_tile
