// The 256-bit VNNI int8 GEMM kernel, one body for two encodings of vpdpbusd ymm:
//   gemm_s8__avxvnni.cc        AVX-VNNI (VEX): AVX2-class CPUs with VNNI but no AVX-512
//                              (Intel Alder Lake and later client cores, Atom-class edge
//                              chips such as the N100, AMD Zen 5 desktop parts);
//   gemm_s8_ymm__avx512vnni.cc the same instructions EVEX-encoded (AVX512-VNNI + VL): a
//                              twin that runs this body on AVX-512 machines, where the
//                              tests check it (no CPU here has AVX-VNNI).
// The including file defines CN_YMM_VNNI_NAMESPACE (a namespace of its own), CN_YMM_DPBUSD
// (the instruction, as asm text) and CN_YMM_DPBUSD_REG (the register constraint: "x" for
// VEX, which encodes ymm0-15 only, "v" for EVEX).
//
// Tile 6 x 16: 12 ymm accumulators (6 rows x 2 vectors of 8 columns), 2 activation
// vectors and one broadcast weight dword per row and k group: 15 of the 16 ymm registers
// VEX code has. Weights are the AVX512-VNNI kernel's layout ([k groups][6 rows][4 k],
// int8), so weights packed under either ISA run under the other without a repack;
// activation panels are 16 columns of 4-k groups ([k groups][16 columns][4 k], uint8).
#include <immintrin.h>

#include <cstring>

#include "quant/gemm_s8_kernels.h"
#include "quant/gemm_s8_ymm_store.h"

namespace cnnnative::quant::detail {
namespace CN_YMM_VNNI_NAMESPACE {

constexpr int kMr = 6, kNr = 16, kKg = 4;

// vpdpbusd with its accumulator tied in asm: with the intrinsic GCC 12 copied all twelve
// accumulators to other registers every k group (the AVX512-VNNI kernel's finding too).
inline __m256i dpbusd(__m256i acc, __m256i u8, __m256i s8) {
  asm(CN_YMM_DPBUSD " %2, %1, %0" : "+" CN_YMM_DPBUSD_REG(acc) : CN_YMM_DPBUSD_REG(u8), CN_YMM_DPBUSD_REG(s8));
  return acc;
}

// dst[g][j][i] = x[4g + i][j], zero past k_rows and nc: byte and word unpacks of the 4
// rows of a group interleave 16 columns into 64 bytes.
inline void pack_x(const uint8_t* x, int64_t ldx, int64_t k_rows, int64_t nc, void* dst) {
  auto* d = static_cast<uint8_t*>(dst);
  const int64_t groups = (k_rows + kKg - 1) / kKg;
  for (int64_t g = 0; g < groups; ++g, d += kNr * kKg) {
    __m128i r[kKg];
    for (int i = 0; i < kKg; ++i) {
      const int64_t k = g * kKg + i;
      if (k >= k_rows) {
        r[i] = _mm_setzero_si128();
      } else if (nc == kNr) {
        r[i] = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x + k * ldx));
      } else {  // the last columns of N: no byte past nc is read
        alignas(16) uint8_t row[kNr] = {};
        std::memcpy(row, x + k * ldx, static_cast<size_t>(nc));
        r[i] = _mm_load_si128(reinterpret_cast<const __m128i*>(row));
      }
    }
    const __m128i a = _mm_unpacklo_epi8(r[0], r[1]), b = _mm_unpackhi_epi8(r[0], r[1]);
    const __m128i c = _mm_unpacklo_epi8(r[2], r[3]), e = _mm_unpackhi_epi8(r[2], r[3]);
    auto* out = reinterpret_cast<__m128i*>(d);
    _mm_store_si128(out + 0, _mm_unpacklo_epi16(a, c));
    _mm_store_si128(out + 1, _mm_unpackhi_epi16(a, c));
    _mm_store_si128(out + 2, _mm_unpacklo_epi16(b, e));
    _mm_store_si128(out + 3, _mm_unpackhi_epi16(b, e));
  }
}

// Rows x NV vectors of 8 columns: NV = 2 for whole panels, 1 for a last panel of at most 8
// columns (a 7x7 output's 49 pixels are 3 panels and 1 column: 8 lanes computed for it, not 16).
template <int NV>
inline void tile_nv(int64_t groups, const int8_t* w, const uint8_t* x, int32_t* c, int64_t ldc, int64_t mrows,
                    int64_t ncols, bool accumulate) {
  __m256i acc[kMr][NV];
#pragma GCC unroll 6
  for (int i = 0; i < kMr; ++i)
    for (int v = 0; v < NV; ++v) acc[i][v] = _mm256_setzero_si256();
  for (int64_t g = 0; g < groups; ++g, w += kMr * kKg, x += kNr * kKg) {
    __m256i xv[NV];
    for (int v = 0; v < NV; ++v) xv[v] = _mm256_load_si256(reinterpret_cast<const __m256i*>(x + 32 * v));
#pragma GCC unroll 6
    for (int i = 0; i < kMr; ++i) {
      int32_t wd;
      std::memcpy(&wd, w + i * kKg, sizeof wd);
      const __m256i wb = _mm256_set1_epi32(wd);
      for (int v = 0; v < NV; ++v) acc[i][v] = dpbusd(acc[i][v], xv[v], wb);
    }
  }
  store_ymm_tile(acc, c, ldc, mrows, ncols, accumulate);
}

inline void tile(int64_t groups, const void* wp, const void* xp, int32_t* c, int64_t ldc, int64_t mrows,
                 int64_t ncols, bool accumulate) {
  const auto* w = static_cast<const int8_t*>(wp);
  const auto* x = static_cast<const uint8_t*>(xp);
  if (ncols <= 8) return tile_nv<1>(groups, w, x, c, ldc, mrows, ncols, accumulate);
  tile_nv<2>(groups, w, x, c, ldc, mrows, ncols, accumulate);
}

}  // namespace CN_YMM_VNNI_NAMESPACE
}  // namespace cnnnative::quant::detail

#undef CN_YMM_DPBUSD
#undef CN_YMM_DPBUSD_REG
#undef CN_YMM_VNNI_NAMESPACE
