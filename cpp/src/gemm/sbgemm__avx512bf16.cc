// AVX512-BF16 kernels of the bf16 GEMM (gemm/sbgemm.h): the vdpbf16ps microkernel and
// the per-call packing of the activations (fp32 -> bf16 pairs with vcvtne2ps2bf16).
//
// Microkernel: an M x (16 NV) tile, M <= MR = 14, NV <= 2, in M * NV zmm accumulators.
// Per pair of k: NV loads of the W panel (16 columns x 2 k each), M broadcasts of an A
// dword (one row's two k), M * NV vdpbf16ps -- 64 flops each, twice an FMA's 32. Every
// (M, NV) is its own instantiation, so edge tiles (49 pixels = 3 x 14 + 7; 16 leftover
// channels) do no padded work.
// The target pragma lets a -march=native build of a CPU without BF16 still compile this
// file (it is only called where cpuid says the instructions exist).
#pragma GCC target("avx512f,avx512bw,avx512dq,avx512vl,avx512bf16")
#include <immintrin.h>

#include <array>

#include "gemm/sbgemm.h"

namespace cnnnative {
namespace bf16 {
namespace {

template <int M, int NV>
void tile(int64_t pairs, const uint32_t* a, const uint32_t* b, float* c, int64_t ldc, int n) {
  __m512 acc[M][NV];
#pragma GCC unroll 16
  for (int r = 0; r < M; ++r)
#pragma GCC unroll 2
    for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_setzero_ps();
  for (int64_t p = 0; p < pairs; ++p) {
    __m512bh bv[NV];
#pragma GCC unroll 2
    for (int v = 0; v < NV; ++v) bv[v] = (__m512bh)_mm512_load_si512(b + 16 * v);
#pragma GCC unroll 16
    for (int r = 0; r < M; ++r) {
      const __m512bh ar = (__m512bh)_mm512_set1_epi32(int(a[r]));
#pragma GCC unroll 2
      for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_dpbf16_ps(acc[r][v], ar, bv[v]);
    }
    a += kMR;
    b += 16 * NV;
  }
  if (n == 16 * NV) {
#pragma GCC unroll 16
    for (int r = 0; r < M; ++r)
#pragma GCC unroll 2
      for (int v = 0; v < NV; ++v) _mm512_storeu_ps(c + r * ldc + 16 * v, acc[r][v]);
    return;
  }
  __mmask16 mask[NV];
#pragma GCC unroll 2
  for (int v = 0; v < NV; ++v) {
    const int left = n - 16 * v;
    mask[v] = left >= 16 ? 0xFFFF : left <= 0 ? 0 : __mmask16((1u << left) - 1u);
  }
#pragma GCC unroll 16
  for (int r = 0; r < M; ++r)
#pragma GCC unroll 2
    for (int v = 0; v < NV; ++v) _mm512_mask_storeu_ps(c + r * ldc + 16 * v, mask[v], acc[r][v]);
}

using TileFn = void (*)(int64_t, const uint32_t*, const uint32_t*, float*, int64_t, int);

template <int... Ms>
constexpr std::array<std::array<TileFn, 2>, sizeof...(Ms)> make_tiles(std::integer_sequence<int, Ms...>) {
  return {{{&tile<Ms + 1, 1>, &tile<Ms + 1, 2>}...}};
}
constexpr auto kTiles = make_tiles(std::make_integer_sequence<int, kMR>{});

// 16-bit lane j of the result: lane j/2 of `lo` (j even) or of `hi` (j odd), as
// cvtne2ps_pbh(hi, lo) places lo in lanes 0-15 and hi in 16-31: dword r = (lo[r], hi[r]).
inline __m512i interleave_index() {
  alignas(64) int16_t idx[32];
  for (int j = 0; j < 32; ++j) idx[j] = int16_t((j & 1) ? 16 + j / 2 : j / 2);
  return _mm512_load_si512(idx);
}

}  // namespace

void pack_a_kxm(const float* src, int64_t ld, int64_t k0, int64_t kb, int64_t m, int64_t k, uint32_t* dst) {
  const int64_t pairs = (k + 1) / 2, p0 = k0 / 2;
  const __m512i idx = interleave_index();
  // Row pair outer, panels inner: both source rows are read front to back (prefetchable)
  // while the panels are written at one offset each.
  for (int64_t kk = 0; kk < kb; kk += 2) {
    const float* lo_row = src + kk * ld;
    const float* hi_row = kk + 1 < kb ? lo_row + ld : nullptr;
    uint32_t* out = dst + (p0 + kk / 2) * kMR;
    for (int64_t r0 = 0; r0 < m; r0 += kMR) {
      const int rows = int(std::min<int64_t>(kMR, m - r0));
      const __mmask16 mask = __mmask16((1u << rows) - 1u);
      const __m512 lo = _mm512_maskz_loadu_ps(mask, lo_row + r0);
      const __m512 hi = hi_row ? _mm512_maskz_loadu_ps(mask, hi_row + r0) : _mm512_setzero_ps();
      const __m512i v = _mm512_permutexvar_epi16(idx, (__m512i)_mm512_cvtne2ps_pbh(hi, lo));
      _mm512_mask_storeu_epi32(out + (r0 / kMR) * kMR * pairs, mask, v);
    }
  }
}

void pack_a_mxk(const float* src, int64_t ld, int64_t m, int64_t k, uint32_t* dst) {
  const int64_t pairs = (k + 1) / 2;
  alignas(64) uint32_t line[16];
  for (int64_t r = 0; r < m; ++r) {
    uint32_t* panel = dst + (r / kMR) * kMR * pairs + r % kMR;
    const float* s = src + r * ld;
    // 32 consecutive values -> 16 pairs in memory order (cvtne2ps_pbh(hi, lo): lo first).
    for (int64_t k0 = 0; k0 < k; k0 += 32) {
      const int64_t left = k - k0;
      const __mmask16 m0 = left >= 16 ? 0xFFFF : __mmask16((1u << left) - 1u);
      const __mmask16 m1 = left >= 32 ? 0xFFFF : left <= 16 ? 0 : __mmask16((1u << (left - 16)) - 1u);
      const __m512 lo = _mm512_maskz_loadu_ps(m0, s + k0), hi = _mm512_maskz_loadu_ps(m1, s + k0 + 16);
      _mm512_store_si512(line, (__m512i)_mm512_cvtne2ps_pbh(hi, lo));
      const int64_t n = std::min<int64_t>(16, (left + 1) / 2);
      for (int64_t j = 0; j < n; ++j) panel[(k0 / 2 + j) * kMR] = line[j];
    }
  }
}

void multiply(const uint32_t* a, int64_t m, const PackedWeights& w, int64_t q0, int64_t q1, float* c,
              int64_t ldc) {
  const int64_t pairs = w.pairs();
  for (int64_t q = q0; q < q1; ++q) {
    const int width = w.panel_width(q);
    const int n = int(std::min<int64_t>(width, w.n() - q * kNR));
    const uint32_t* b = w.panel(q);
    for (int64_t r0 = 0; r0 < m; r0 += kMR) {
      const int rows = int(std::min<int64_t>(kMR, m - r0));
      kTiles[rows - 1][width / 16 - 1](pairs, a + (r0 / kMR) * kMR * pairs, b, c + r0 * ldc + (q - q0) * kNR, ldc, n);
    }
  }
}

void pack_b_kxn(const float* src, int64_t ld, int64_t k0, int64_t kb, int64_t n, int64_t k, uint32_t* dst) {
  const int64_t pairs = (k + 1) / 2, p0 = k0 / 2;
  const __m512i idx = interleave_index();
  for (int64_t kk = 0; kk < kb; kk += 2) {
    const float* lo_row = src + kk * ld;
    const float* hi_row = kk + 1 < kb ? lo_row + ld : nullptr;
    for (int64_t c0 = 0; c0 < n; c0 += kNR) {
      const int width = n - c0 > 16 ? kNR : 16;
      uint32_t* out = dst + (c0 / kNR) * kNR * pairs + (p0 + kk / 2) * width;
      for (int v = 0; v < width / 16; ++v) {
        const int64_t left = n - c0 - 16 * v;
        const __mmask16 mask = left >= 16 ? 0xFFFF : left <= 0 ? 0 : __mmask16((1u << left) - 1u);
        const __m512 lo = _mm512_maskz_loadu_ps(mask, lo_row + c0 + 16 * v);
        const __m512 hi = hi_row ? _mm512_maskz_loadu_ps(mask, hi_row + c0 + 16 * v) : _mm512_setzero_ps();
        _mm512_storeu_si512(out + 16 * v, _mm512_permutexvar_epi16(idx, (__m512i)_mm512_cvtne2ps_pbh(hi, lo)));
      }
    }
  }
}

void multiply_rows(const PackedWeights& w, int64_t r0, int64_t rows, const uint32_t* b, int64_t n, float* c,
                   int64_t ldc) {
  const int64_t pairs = w.pairs();
  for (int64_t c0 = 0; c0 < n; c0 += kNR) {
    const int width = n - c0 > 16 ? kNR : 16;
    const int cols = int(std::min<int64_t>(width, n - c0));
    const uint32_t* bp = b + (c0 / kNR) * kNR * pairs;
    for (int64_t i = 0; i < rows; i += kMR) {
      const int m = int(std::min<int64_t>(kMR, rows - i));
      kTiles[m - 1][width / 16 - 1](pairs, w.panel((r0 + i) / kMR), bp, c + i * ldc + c0, ldc, cols);
    }
  }
}

double dpbf16_loop(int64_t iterations, float* sink) {
  constexpr int kChains = 24;  // independent accumulators: latency 6 x 2 pipes, with margin
  __m512 acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = _mm512_set1_ps(0.001f * float(i));
  const __m512bh x = _mm512_cvtne2ps_pbh(_mm512_set1_ps(1e-3f), _mm512_set1_ps(1e-3f));
  const __m512bh y = _mm512_cvtne2ps_pbh(_mm512_set1_ps(-1e-3f), _mm512_set1_ps(1e-3f));
  for (int64_t it = 0; it < iterations; ++it) {
#pragma GCC unroll 24
    for (int i = 0; i < kChains; ++i) acc[i] = _mm512_dpbf16_ps(acc[i], x, y);
  }
  __m512 total = acc[0];
  for (int i = 1; i < kChains; ++i) total = _mm512_add_ps(total, acc[i]);
  *sink = _mm512_reduce_add_ps(total);
  return 4.0 * kChains * 16 * double(iterations);  // 2 multiply-adds per lane
}

}  // namespace bf16
}  // namespace cnnnative
