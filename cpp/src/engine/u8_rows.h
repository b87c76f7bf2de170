// Byte rows split by stride 2, and their maxima (SSE2: every x86-64 CPU has it), shared by
// the int8 convolutions' strided unfolds and the uint8 max pool: byte by byte, the strided
// copies were a tenth to a quarter of the 3x3/2 and 1x1/2 layers' time (perf on the AMD
// EPYC here).
#pragma once
#include <emmintrin.h>

#include <cstdint>

namespace cnnnative {
namespace engine {

// dst[i] = src[2 i] for i < n, reading no byte past src[2 (n - 1)].
inline void gather_even_u8(const uint8_t* src, int64_t n, uint8_t* dst) {
  const __m128i lo8 = _mm_set1_epi16(0x00FF);
  int64_t i = 0;
  for (; i + 16 < n; i += 16) {  // reads src[2i .. 2i + 31], and 2i + 31 < 2 (n - 1)
    const __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + 2 * i));
    const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + 2 * i + 16));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i),
                     _mm_packus_epi16(_mm_and_si128(a, lo8), _mm_and_si128(b, lo8)));
  }
  for (; i < n; ++i) dst[i] = src[2 * i];
}

// even[i] = src[2 i], odd[i] = src[2 i + 1] for the n bytes src[0, n).
inline void split_pairs_u8(const uint8_t* src, int64_t n, uint8_t* even, uint8_t* odd) {
  const __m128i lo8 = _mm_set1_epi16(0x00FF);
  int64_t i = 0;
  for (; 2 * i + 32 <= n; i += 16) {
    const __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + 2 * i));
    const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + 2 * i + 16));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(even + i),
                     _mm_packus_epi16(_mm_and_si128(a, lo8), _mm_and_si128(b, lo8)));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(odd + i),
                     _mm_packus_epi16(_mm_srli_epi16(a, 8), _mm_srli_epi16(b, 8)));
  }
  for (; 2 * i < n; ++i) {
    even[i] = src[2 * i];
    if (2 * i + 1 < n) odd[i] = src[2 * i + 1];
  }
}

// dst[i] = max over k < count of base[offsets[k] + i], for i < n (count >= 1). Written out
// because a plain byte loop stays scalar (its uint8 stores may alias anything, its own
// bounds included), and all sources in one pass so dst is only written: accumulating into
// dst source by source, an overlapping last vector reloaded bytes just stored (a
// store-forward stall that cost more than the scalar tail).
inline void max_rows_u8(uint8_t* dst, const uint8_t* base, const int64_t* offsets, int64_t count, int64_t n) {
  auto max16 = [&](int64_t i) {
    __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(base + offsets[0] + i));
    for (int64_t k = 1; k < count; ++k)
      v = _mm_max_epu8(v, _mm_loadu_si128(reinterpret_cast<const __m128i*>(base + offsets[k] + i)));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i), v);
  };
  if (n < 16) {
    for (int64_t i = 0; i < n; ++i) {
      uint8_t m = base[offsets[0] + i];
      for (int64_t k = 1; k < count; ++k) m = base[offsets[k] + i] > m ? base[offsets[k] + i] : m;
      dst[i] = m;
    }
    return;
  }
  for (int64_t i = 0; i + 16 <= n; i += 16) max16(i);
  if (n % 16) max16(n - 16);  // the last bytes as one vector ending at n (dst is not a source)
}

}  // namespace engine
}  // namespace cnnnative
