// AVX2 depthwise int8 plane kernel (see depthwise_s8_kernels.h): vpmaddwd at 8 output
// columns per vector (depthwise_s8_madd_impl.h has the kernel), where the avx2 ISA ran the
// scalar loop.
#include <immintrin.h>

#include "quant/depthwise_s8_madd_impl.h"

namespace cnnnative::quant::detail {
namespace {

struct Ymm {
  using Reg = __m256i;
  static constexpr int64_t kLanes = 8;
  static Reg set1(int32_t v) { return _mm256_set1_epi32(v); }
  static Reg zero() { return _mm256_setzero_si256(); }
  static Reg add(Reg a, Reg b) { return _mm256_add_epi32(a, b); }
  static Reg madd(Reg a, Reg b) { return _mm256_madd_epi16(a, b); }
  static Reg widen_lanes(const uint8_t* p) {
    return _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)));
  }
  static Reg widen_pairs(const uint8_t* p) {
    return _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  }
  static void store(int32_t* y, Reg v, int64_t cols) {
    if (cols >= 8) {
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(y), v);
      return;
    }
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    _mm256_maskstore_epi32(y, _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int32_t>(cols)), lane), v);
  }
};

}  // namespace

void dw_plane_avx2(const ConvParams& p, const uint8_t* xp, int64_t ld, const int8_t* w, int32_t* y) {
  dw_madd::plane<Ymm>(p, xp, ld, w, y);
}

}  // namespace cnnnative::quant::detail
