// AVX-512 depthwise int8 plane kernel (see depthwise_s8_kernels.h): vpmaddwd at 16 output
// columns per vector (depthwise_s8_madd_impl.h has the kernel).
// GCC 12 warns that the intrinsics' own _mm512_undefined_*() "may be used uninitialized"
// once they are inlined here (a known false positive of its headers).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include "quant/depthwise_s8_madd_impl.h"

namespace cnnnative::quant::detail {
namespace {

struct Zmm {
  using Reg = __m512i;
  static constexpr int64_t kLanes = 16;
  static Reg set1(int32_t v) { return _mm512_set1_epi32(v); }
  static Reg zero() { return _mm512_setzero_si512(); }
  static Reg add(Reg a, Reg b) { return _mm512_add_epi32(a, b); }
  static Reg madd(Reg a, Reg b) { return _mm512_madd_epi16(a, b); }
  static Reg widen_lanes(const uint8_t* p) {
    return _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  }
  static Reg widen_pairs(const uint8_t* p) {
    return _mm512_cvtepu8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  }
  static void store(int32_t* y, Reg v, int64_t cols) {
    const __mmask16 m = cols >= 16 ? 0xFFFF : static_cast<__mmask16>((1u << cols) - 1);
    _mm512_mask_storeu_epi32(y, m, v);
  }
};

}  // namespace

void dw_plane_avx512(const ConvParams& p, const uint8_t* xp, int64_t ld, const int8_t* w, int32_t* y) {
  dw_madd::plane<Zmm>(p, xp, ld, w, y);
}

}  // namespace cnnnative::quant::detail
