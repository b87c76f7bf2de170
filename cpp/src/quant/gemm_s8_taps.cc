// gemm_s8u8_s32_taps (see quant.h): the implicit GEMM of a stride-1 convolution. For an
// image padded on every side (Hp x Wp per channel), output pixel (oh, ow) of tap (r, s)
// reads padded pixel (oh + r*dh) * Wp + ow + s*dw: over the "extended" output grid of Wp
// columns per row, every tap's X rows are the image shifted by one offset, contiguous in
// the pixel index. Each panel of nr columns is packed tap by tap straight from the image
// (the kernel's own pack_x), so no im2col copy is written and read back; the columns
// past OW in each row are computed and dropped by the caller.
#include <emmintrin.h>
#include <xmmintrin.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <new>
#include <vector>

#include "cnnnative/errors.h"
#include "cnnnative/quant.h"
#include "quant/gemm_s8_kernels.h"

namespace cnnnative::quant {

void gemm_s8u8_s32_taps(const PackedWeightsS8& w, int64_t N, const uint8_t* x, int64_t ldx,
                        const int64_t* tap_offsets, int64_t taps, int64_t channels, int32_t* c, int64_t ldc) {
  const int64_t rows = (channels + 3) / 4 * 4;  // per tap, a whole number of k groups for kg 1, 2, 4
  CN_CHECK(w.layout >= 0 && w.K == taps * rows, "gemm_s8u8_s32_taps: weights have K=", w.K, ", expected ", taps,
           " taps x ", rows, " rows");
  CN_CHECK(N >= 0 && ldc >= std::max<int64_t>(N, 1), "gemm_s8u8_s32_taps: bad N=", N, " or ldc=", ldc);
  const int64_t M = w.M, K = w.K;
  if (M == 0 || N == 0) return;
  const detail::S8Kernel& kern = detail::s8_kernel_for_running(w.layout);
  if (w.layout != kern.layout || rows % kern.kg != 0) {
    // Packed under another ISA: gather X densely and take the general path.
    std::vector<uint8_t> dense(static_cast<size_t>(K * N), 0);
    for (int64_t t = 0; t < taps; ++t)
      for (int64_t ch = 0; ch < channels; ++ch)
        std::memcpy(dense.data() + (t * rows + ch) * N, x + tap_offsets[t] + ch * ldx, static_cast<size_t>(N));
    gemm_s8u8_s32(w, N, dense.data(), N, c, ldc, /*single_thread=*/true);
    return;
  }
  const int64_t groups = w.k_groups(), tap_groups = rows / kern.kg;
  const int64_t x_group_bytes = int64_t{kern.nr} * kern.kg * kern.x_elem;
  const int64_t w_group_bytes = int64_t{kern.mr} * kern.kg * kern.w_elem;
  const int64_t panel_bytes = (groups * x_group_bytes + 63) / 64 * 64;
  const int64_t panels = (N + kern.nr - 1) / kern.nr, m_tiles = (M + kern.mr - 1) / kern.mr;
  const int64_t kc_groups = kern.kc / kern.kg;
  const int8_t* wdata = w.data.data();
  const int64_t wtile_bytes = w.tile_bytes();
  const int64_t ldt = m_tiles * kern.mr;  // transposed kernels write C^T (N x ldt) first
  std::unique_ptr<int32_t[]> ct(kern.transposed_out ? new int32_t[static_cast<size_t>(N * ldt)] : nullptr);
  auto* xp = static_cast<uint8_t*>(::operator new[](static_cast<size_t>(panel_bytes), std::align_val_t(64)));
  const int64_t packed_groups = (channels + kern.kg - 1) / kern.kg;
  for (int64_t p = 0; p < panels; ++p) {
    const int64_t n0 = p * kern.nr, ncols = std::min<int64_t>(kern.nr, N - n0);
    for (int64_t t = 0; t < taps; ++t) {
      uint8_t* dst = xp + t * tap_groups * x_group_bytes;
      kern.pack_x(x + tap_offsets[t] + n0, ldx, channels, ncols, dst);
      std::memset(dst + packed_groups * x_group_bytes, 0,
                  static_cast<size_t>((tap_groups - packed_groups) * x_group_bytes));
    }
    for (int64_t g0 = 0; g0 < groups; g0 += kc_groups) {
      const int64_t ng = std::min(kc_groups, groups - g0);
      for (int64_t t = 0; t < m_tiles; ++t) {
        const int64_t m0 = t * kern.mr;
        int32_t* out = kern.transposed_out ? ct.get() + n0 * ldt + m0 : c + m0 * ldc + n0;
        kern.tile(ng, wdata + t * wtile_bytes + g0 * w_group_bytes, xp + g0 * x_group_bytes, out,
                  kern.transposed_out ? ldt : ldc, std::min<int64_t>(kern.mr, M - m0), ncols, g0 > 0);
      }
    }
  }
  ::operator delete[](xp, std::align_val_t(64));
  if (kern.transposed_out)
    for (int64_t n = 0; n < N; ++n)
      for (int64_t m = 0; m < M; ++m) c[m * ldc + n] = ct[static_cast<size_t>(n * ldt + m)];
}

}  // namespace cnnnative::quant

// The 4-channel forms of the taps GEMM (gemm_s8u8_s32_taps_c4 and _c4t) and the row
// interleaving that writes their images.
namespace cnnnative::quant {

void interleave4_u8(const uint8_t* const s[4], int64_t n, int64_t step, uint8_t* dst) {
  if ((step == 1 || step == 2) && cpu_has_avx512_vnni()) return detail::interleave4_u8_avx512(s, n, step, dst);
  for (int64_t i = 0; i < n; ++i)
    for (int j = 0; j < 4; ++j) dst[4 * i + j] = s[j][i * step];
}

void split_interleave4_u8(const uint8_t* const s[4], int64_t n, uint8_t* even, uint8_t* odd) {
  if (cpu_has_avx512_vnni()) return detail::split_interleave4_u8_avx512(s, n, even, odd);
  for (int64_t i = 0; i < n; ++i)
    for (int j = 0; j < 4; ++j) (i % 2 ? odd : even)[4 * (i / 2) + j] = s[j][i];
}

namespace {

// The taps' offsets in bytes of the 4-channel image (4 bytes a pixel), on the stack for up
// to 16 taps (3x3, 4x4), else on the heap.
class TapBytes {
 public:
  TapBytes(const int64_t* tap_offsets, int64_t taps) {
    if (taps > kOnStack) big_.resize(size_t(taps));
    int64_t* bytes = taps > kOnStack ? big_.data() : small_;
    for (int64_t t = 0; t < taps; ++t) bytes[t] = 4 * tap_offsets[t];
    data_ = bytes;
  }
  TapBytes(const TapBytes&) = delete;  // data_ may point into this object
  TapBytes& operator=(const TapBytes&) = delete;
  const int64_t* data() const { return data_; }

 private:
  static constexpr int64_t kOnStack = 16;
  int64_t small_[kOnStack];
  std::vector<int64_t> big_;
  const int64_t* data_ = nullptr;
};

}  // namespace

// gemm_s8u8_s32_taps_c4: the image already is the VNNI kernel's packed X (4 channels per
// pixel), so there is nothing to pack; each 6-row tile runs its whole K (all taps and
// channel quads) against one panel of 64 columns in registers
// (gemm_s8_taps_c4__avx512vnni.cc). Panels outer, tiles inner: the panel's rows of the
// image (quads x about 64 + 2 rows of pixels) stay in L1/L2 while the weight tiles stream.
bool gemm_s8_taps_c4_supported(const PackedWeightsS8& w) {
  const detail::S8Kernel& k = detail::s8_kernel_for_running(w.layout);
  return &k == &detail::s8_kernel_avx512_vnni() && w.layout == k.layout;
}

void gemm_s8u8_s32_taps_c4(const PackedWeightsS8& w, int64_t N, const uint8_t* x, int64_t quad_stride,
                           const int64_t* tap_offsets, int64_t taps, int64_t channels, int32_t* c, int64_t ldc) {
  const int64_t quads = (channels + 3) / 4;
  CN_CHECK(gemm_s8_taps_c4_supported(w), "gemm_s8u8_s32_taps_c4: needs weights packed for the AVX512-VNNI kernel");
  CN_CHECK(w.K == taps * quads * 4, "gemm_s8u8_s32_taps_c4: weights have K=", w.K, ", expected ", taps, " taps x ",
           quads * 4, " rows");
  CN_CHECK(N >= 0 && ldc >= std::max<int64_t>(N, 1), "gemm_s8u8_s32_taps_c4: bad N=", N, " or ldc=", ldc);
  const detail::S8Kernel& kern = detail::s8_kernel_avx512_vnni();
  const int64_t M = w.M;
  if (M == 0 || N == 0) return;
  const TapBytes tap_bytes(tap_offsets, taps);
  const detail::TapsC4Args a{quads, taps, quads, tap_bytes.data(), quad_stride, ldc};
  const int64_t m_tiles = (M + kern.mr - 1) / kern.mr;
  const int8_t* wdata = w.data.data();
  const int64_t wtile_bytes = w.tile_bytes();
  for (int64_t n0 = 0; n0 < N; n0 += kern.nr) {
    const int64_t ncols = std::min<int64_t>(kern.nr, N - n0);
    for (int64_t t = 0; t < m_tiles; ++t) {
      const int64_t m0 = t * kern.mr;
      detail::s8_taps_c4_tile_avx512_vnni(a, wdata + t * wtile_bytes, x + 4 * n0, c + m0 * ldc + n0,
                                          std::min<int64_t>(kern.mr, M - m0), ncols);
    }
  }
}

// gemm_s8u8_s32_taps_c4t: tiles of 64 rows x 6 listed pixels (lanes along M), each tile's
// 6 x 64 sums transposed into C through a small buffer (about 1.5% of a tile's work at
// K = 9 x 256). Row tiles outer: one tile's weights (64 x K bytes) stay in L2 while the
// pixels run against them.
namespace {
// out[m][j] = t[j][m] for m < rows, j < P (t: P x 64): 4 x 4 blocks (SSE2) for pixels 0-3,
// pairs unpacked for 4-5. One element at a time it cost about a tenth of a 64-channel
// 3x3 layer (K = 576).
void transpose_tile(const int32_t* t, int64_t P, int64_t rows, int32_t* out, int64_t ldc) {
  int64_t j = 0;
  if (P >= 4 && rows == 64) {
    for (int64_t m = 0; m < 64; m += 4) {
      __m128 r0 = _mm_castsi128_ps(_mm_load_si128(reinterpret_cast<const __m128i*>(t + m)));
      __m128 r1 = _mm_castsi128_ps(_mm_load_si128(reinterpret_cast<const __m128i*>(t + 64 + m)));
      __m128 r2 = _mm_castsi128_ps(_mm_load_si128(reinterpret_cast<const __m128i*>(t + 128 + m)));
      __m128 r3 = _mm_castsi128_ps(_mm_load_si128(reinterpret_cast<const __m128i*>(t + 192 + m)));
      _MM_TRANSPOSE4_PS(r0, r1, r2, r3);  // moves bits only: any int32 pattern survives
      _mm_storeu_si128(reinterpret_cast<__m128i*>(out + m * ldc), _mm_castps_si128(r0));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(out + (m + 1) * ldc), _mm_castps_si128(r1));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(out + (m + 2) * ldc), _mm_castps_si128(r2));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(out + (m + 3) * ldc), _mm_castps_si128(r3));
    }
    j = 4;
    if (P == 6) {
      for (int64_t m = 0; m < 64; m += 4) {
        const __m128i a = _mm_load_si128(reinterpret_cast<const __m128i*>(t + 256 + m));
        const __m128i b = _mm_load_si128(reinterpret_cast<const __m128i*>(t + 320 + m));
        const __m128i lo = _mm_unpacklo_epi32(a, b), hi = _mm_unpackhi_epi32(a, b);
        _mm_storel_epi64(reinterpret_cast<__m128i*>(out + m * ldc + 4), lo);
        _mm_storel_epi64(reinterpret_cast<__m128i*>(out + (m + 1) * ldc + 4), _mm_unpackhi_epi64(lo, lo));
        _mm_storel_epi64(reinterpret_cast<__m128i*>(out + (m + 2) * ldc + 4), hi);
        _mm_storel_epi64(reinterpret_cast<__m128i*>(out + (m + 3) * ldc + 4), _mm_unpackhi_epi64(hi, hi));
      }
      return;
    }
  }
  for (int64_t m = 0; m < rows; ++m)
    for (int64_t jj = j; jj < P; ++jj) out[m * ldc + jj] = t[jj * 64 + m];
}
}  // namespace

bool gemm_s8_taps_c4t_supported(const PackedWeightsS8& w) {
  const detail::S8Kernel& k = detail::s8_kernel_for_running(w.layout);
  return &k == &detail::s8_kernel_avx512_vnni_t() && w.layout == k.layout;
}

void gemm_s8u8_s32_taps_c4t(const PackedWeightsS8& w, int64_t N, const uint8_t* x, int64_t quad_stride,
                            const int64_t* tap_offsets, int64_t taps, const int64_t* pixel_offsets, int64_t channels,
                            int32_t* c, int64_t ldc) {
  const int64_t quads = (channels + 3) / 4;
  CN_CHECK(gemm_s8_taps_c4t_supported(w), "gemm_s8u8_s32_taps_c4t: needs weights packed for the transposed "
                                          "AVX512-VNNI kernel (pack_weights_s8_lanes_m)");
  CN_CHECK(w.K == taps * quads * 4, "gemm_s8u8_s32_taps_c4t: weights have K=", w.K, ", expected ", taps, " taps x ",
           quads * 4, " rows");
  CN_CHECK(N >= 0 && ldc >= std::max<int64_t>(N, 1), "gemm_s8u8_s32_taps_c4t: bad N=", N, " or ldc=", ldc);
  const int64_t M = w.M;
  if (M == 0 || N == 0) return;
  const TapBytes tap_bytes(tap_offsets, taps);
  const detail::TapsC4Args a{quads, taps, quads, tap_bytes.data(), quad_stride, 0};
  const int64_t m_tiles = (M + 63) / 64;
  const int8_t* wdata = w.data.data();
  const int64_t wtile_bytes = w.tile_bytes();
  alignas(64) int32_t tbuf[6 * 64];
  for (int64_t mt = 0; mt < m_tiles; ++mt) {
    const int64_t m0 = mt * 64, rows = std::min<int64_t>(64, M - m0);
    // Tiles of equal pixel counts (49 = 5 x 5 + 4 x 6, not 8 x 6 + 1): a 1-pixel tile has
    // 4 accumulator chains, too few for vpdpbusd's latency.
    const int64_t n_tiles = (N + 5) / 6, small = N / n_tiles, big_tiles = N % n_tiles;
    for (int64_t i = 0, n0 = 0; i < n_tiles; ++i) {
      const int64_t P = small + (i < big_tiles ? 1 : 0);
      int64_t pix[6];
      for (int64_t j = 0; j < P; ++j) pix[j] = 4 * pixel_offsets[n0 + j];
      detail::s8_taps_c4t_tile_avx512_vnni(a, wdata + mt * wtile_bytes, x, pix, P, tbuf);
      transpose_tile(tbuf, P, rows, c + m0 * ldc + n0, ldc);
      n0 += P;
    }
  }
}

}  // namespace cnnnative::quant
