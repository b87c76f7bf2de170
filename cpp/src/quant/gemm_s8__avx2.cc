// The AVX2 int8 GEMM kernel for CPUs without VNNI, with no saturation.
//
// vpmaddubsw (u8 x s8 -> int16 pair sums) is the usual AVX2 trick, but its int16 sum
// saturates: 255*127 + 255*127 = 64770 > 32767, so it is wrong for full-range data.
// Here both operands are widened to int16 when packed (uint8 activations zero-extended,
// int8 weights sign-extended) and vpmaddwd forms int32 sums of two products, each at most
// 255*128 in magnitude: exact, at half the bytes per instruction of vpmaddubsw.
// Tile 4 x 16: 8 ymm accumulators, 2 activation vectors, one broadcast weight pair.
#include <immintrin.h>

#include <cstring>

#include "quant/gemm_s8_kernels.h"
#include "quant/gemm_s8_ymm_store.h"

namespace cnnnative::quant::detail {
namespace {

constexpr int kMr = 4, kNr = 16, kKg = 2;

// dst[g][j][i] = int16(x[2g + i][j]).
void pack_x(const uint8_t* x, int64_t ldx, int64_t k_rows, int64_t nc, void* dst) {
  auto* d = static_cast<int16_t*>(dst);
  const int64_t groups = (k_rows + kKg - 1) / kKg;
  for (int64_t g = 0; g < groups; ++g, d += kNr * kKg) {
    const uint8_t* r0 = x + 2 * g * ldx;
    const uint8_t* r1 = 2 * g + 1 < k_rows ? r0 + ldx : nullptr;
    if (nc == kNr) {
      const __m256i a = _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(r0)));
      const __m256i b = r1 ? _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(r1)))
                           : _mm256_setzero_si256();
      // unpack works within 128-bit lanes: lo = columns 0-3 | 8-11, hi = 4-7 | 12-15.
      const __m256i lo = _mm256_unpacklo_epi16(a, b), hi = _mm256_unpackhi_epi16(a, b);
      _mm256_store_si256(reinterpret_cast<__m256i*>(d), _mm256_permute2x128_si256(lo, hi, 0x20));
      _mm256_store_si256(reinterpret_cast<__m256i*>(d + 16), _mm256_permute2x128_si256(lo, hi, 0x31));
      continue;
    }
    for (int64_t j = 0; j < kNr; ++j) {
      d[2 * j] = j < nc ? r0[j] : 0;
      d[2 * j + 1] = (j < nc && r1) ? r1[j] : 0;
    }
  }
}

// acc + v with the accumulator tied in asm: GCC 12 otherwise adds into a new register and
// copies every accumulator back each k group (8 extra moves per 8 multiply-adds).
inline __m256i add_into(__m256i acc, __m256i v) {
  asm("vpaddd %1, %0, %0" : "+x"(acc) : "x"(v));
  return acc;
}

void tile(int64_t groups, const void* wp, const void* xp, int32_t* c, int64_t ldc, int64_t mrows, int64_t ncols,
          bool accumulate) {
  const auto* w = static_cast<const int16_t*>(wp);
  const auto* x = static_cast<const int16_t*>(xp);
  __m256i acc[kMr][2];
  for (int i = 0; i < kMr; ++i) acc[i][0] = acc[i][1] = _mm256_setzero_si256();
  for (int64_t g = 0; g < groups; ++g, w += kMr * kKg, x += kNr * kKg) {
    const __m256i x0 = _mm256_load_si256(reinterpret_cast<const __m256i*>(x));
    const __m256i x1 = _mm256_load_si256(reinterpret_cast<const __m256i*>(x + 16));
#pragma GCC unroll 4
    for (int i = 0; i < kMr; ++i) {
      int32_t wd;
      std::memcpy(&wd, w + i * kKg, sizeof wd);
      const __m256i wb = _mm256_set1_epi32(wd);
      acc[i][0] = add_into(acc[i][0], _mm256_madd_epi16(x0, wb));
      acc[i][1] = add_into(acc[i][1], _mm256_madd_epi16(x1, wb));
    }
  }
  store_ymm_tile(acc, c, ldc, mrows, ncols, accumulate);
}

}  // namespace

const S8Kernel& s8_kernel_avx2() {
  // kc = 512: the panel slice is 512 x 16 int16 = 16 KB of L1.
  static const S8Kernel k{"avx2", 1, kMr, kNr, kKg, 2, 2, 512, pack_x, tile};
  return k;
}

}  // namespace cnnnative::quant::detail
