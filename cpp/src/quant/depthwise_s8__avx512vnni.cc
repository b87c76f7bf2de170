// AVX512-VNNI depthwise int8 plane kernel (see depthwise_s8_kernels.h), for CPUs that
// also have AVX512-VBMI (its vpermb; checked by the caller).
//
// vpdpbusd adds 4 products per int32 lane. For 16 outputs of one row, vpermb gathers
// from 64 loaded input bytes each output's 4 taps (x[ow*stride + t*dilation], t = 4q ..
// 4q+3), and one vpdpbusd with the broadcast taps w[r][4q..4q+3] (zero past S) adds them
// all: a 3x3 kernel takes 3 loads, 3 vpermb and 3 vpdpbusd per 16 outputs, where the
// vpmaddwd kernel needs 9 widening loads, 9 vpmaddwd and 9 adds. Exact (int32 sums of
// u8 x s8 products). Needs 15*stride + (S-1)*dilation < 64 (all taps of 16 outputs in one
// 64-byte load) and R * ceil(S/4) <= 64; the caller checks dw_vnni_supports().
#include <immintrin.h>

#include <cstring>

#include "quant/depthwise_s8_kernels.h"

namespace cnnnative::quant::detail {
namespace {

constexpr int64_t kMaxGroups = 64;  // R * ceil(S / 4)

__attribute__((target("avx512vbmi"))) inline __m512i dpbusd(__m512i acc, __m512i u8, __m512i s8) {
  asm("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(u8), "v"(s8));  // accumulator tied (see gemm_s8__avx512vnni.cc)
  return acc;
}

inline __mmask16 col_mask(int64_t cols) { return cols >= 16 ? 0xFFFF : static_cast<__mmask16>((1u << cols) - 1); }

// All output rows. RT, QT > 0: R and ceil(S/4) known at compile time (3x3, 5x5, 7x7), so
// the tap loops unroll; 0: from p. Each vector's R*Q vpdpbusd form a dependent chain, so
// two accumulators per vector and the next vector's independent work keep the pipes fed.
template <int RT, int QT>
__attribute__((target("avx512vbmi"))) void rows(const ConvParams& p, const uint8_t* xp, int64_t ld, const __m512i* idx,
                                                 const __m512i* wq, int32_t* y, int64_t OH, int64_t OW) {
  const int64_t R = RT ? RT : p.R, Q = QT ? QT : (p.S + 3) / 4, sw = p.stride_w, dh = p.dilation_h * ld;
  for (int64_t oh = 0; oh < OH; ++oh) {
    const uint8_t* base = xp + oh * p.stride_h * ld;
    for (int64_t ow = 0; ow < OW; ow += 16) {
      __m512i acc0 = _mm512_setzero_si512(), acc1 = _mm512_setzero_si512();
      const uint8_t* src = base + ow * sw;
#pragma GCC unroll 7
      for (int64_t r = 0; r < R; ++r) {
        const __m512i data = _mm512_loadu_si512(src + r * dh);
#pragma GCC unroll 2
        for (int64_t q = 0; q < Q; ++q) {
          const __m512i taps = _mm512_permutexvar_epi8(idx[q], data);
          if ((r * Q + q) & 1)
            acc1 = dpbusd(acc1, taps, wq[r * Q + q]);
          else
            acc0 = dpbusd(acc0, taps, wq[r * Q + q]);
        }
      }
      _mm512_mask_storeu_epi32(y + oh * OW + ow, col_mask(OW - ow), _mm512_add_epi32(acc0, acc1));
    }
  }
}

}  // namespace

bool dw_vnni_supports(const ConvParams& p) {
  return 15 * p.stride_w + (p.S - 1) * p.dilation_w < 64 && p.R * ((p.S + 3) / 4) <= kMaxGroups;
}

__attribute__((target("avx512vbmi"))) void dw_plane_vnni(const ConvParams& p, const uint8_t* xp, int64_t ld,
                                                          const int8_t* w, int32_t* y) {
  const int64_t OH = p.output_h(), OW = p.output_w(), R = p.R, S = p.S, Q = (S + 3) / 4;
  const int64_t sw = p.stride_w, dw = p.dilation_w;
  __m512i idx[kMaxGroups], wq[kMaxGroups];
  // Byte 4i + j of idx[q] = i*stride + (4q + j)*dilation, built with 16-bit multiplies
  // (every byte product is < 256, so none carries into its neighbour). vpermb reads the
  // low 6 bits only, so taps past S (weight 0) may index anything.
  alignas(64) static constexpr uint8_t kI[64] = {0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5,
                                                 5, 5, 6, 6, 6, 6, 7, 7, 7, 7, 8, 8, 8, 8, 9, 9, 9, 9, 10, 10,
                                                 10, 10, 11, 11, 11, 11, 12, 12, 12, 12, 13, 13, 13, 13, 14,
                                                 14, 14, 14, 15, 15, 15, 15};
  alignas(64) static constexpr uint8_t kJ[64] = {0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1,
                                                 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1,
                                                 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1,
                                                 2, 3};
  const __m512i ii = _mm512_mullo_epi16(_mm512_load_si512(kI), _mm512_set1_epi16(static_cast<short>(sw)));
  const __m512i jj = _mm512_load_si512(kJ);
  for (int64_t q = 0; q < Q; ++q) {
    const __m512i t = _mm512_add_epi8(jj, _mm512_set1_epi8(static_cast<char>(4 * q)));
    idx[q] = _mm512_add_epi8(ii, _mm512_mullo_epi16(t, _mm512_set1_epi16(static_cast<short>(dw))));
  }
  for (int64_t r = 0; r < R; ++r)
    for (int64_t q = 0; q < Q; ++q) {
      int8_t taps[4] = {0, 0, 0, 0};
      for (int64_t j = 0; j < 4 && 4 * q + j < S; ++j) taps[j] = w[r * S + 4 * q + j];
      int32_t d;
      std::memcpy(&d, taps, sizeof d);
      wq[r * Q + q] = _mm512_set1_epi32(d);
    }
  switch (R * 8 + Q) {
    case 3 * 8 + 1: return rows<3, 1>(p, xp, ld, idx, wq, y, OH, OW);
    case 5 * 8 + 2: return rows<5, 2>(p, xp, ld, idx, wq, y, OH, OW);
    case 7 * 8 + 2: return rows<7, 2>(p, xp, ld, idx, wq, y, OH, OW);
    default: return rows<0, 0>(p, xp, ld, idx, wq, y, OH, OW);
  }
}

}  // namespace cnnnative::quant::detail
