// The per-ISA pieces behind gemm_s8u8_s32 (gemm_s8.cc drives them).
//
// A kernel computes one tile of C (mr rows x nr columns) from a packed weight tile and a
// packed activation panel. Both are stored in groups of kg consecutive k:
//   weights:     [k_groups][mr][kg] elements (pack_weights_s8, see quant.h)
//   activations: [k_groups][nr][kg] elements, one panel of nr columns (pack_x)
// with zero padding past K, M and N, so a tile always computes whole groups and tiles.
#pragma once
#include <cstdint>

namespace cnnnative::quant::detail {

struct S8Kernel {
  const char* name;  // what int8_isa() reports
  int layout;        // equal layouts share packed weights
  int mr, nr, kg;    // tile rows and columns, k group
  int w_elem, x_elem;  // bytes per packed weight / activation element
  int kc;            // k block (a multiple of kg): the activation panel slice kept in L1
  // Packs columns [0, nc) (nc <= nr) of X (k_rows x *, row stride ldx) into one panel of
  // ceil(k_rows/kg) groups, zero-padding rows past k_rows and columns past nc.
  void (*pack_x)(const uint8_t* x, int64_t ldx, int64_t k_rows, int64_t nc, void* dst);
  // C[0:mrows, 0:ncols] (=|+=) the product of `groups` k groups of w and x.
  void (*tile)(int64_t groups, const void* w, const void* x, int32_t* c, int64_t ldc, int64_t mrows,
               int64_t ncols, bool accumulate);
  // The tile writes C transposed: c points at C^T[n0][m0] with row stride ldc, and it
  // may write all mr rows (zero for rows past M): the caller transposes afterwards.
  bool transposed_out = false;
};

const S8Kernel& s8_kernel_scalar();
const S8Kernel& s8_kernel_avx2();
const S8Kernel& s8_kernel_avx512_vnni();
const S8Kernel& s8_kernel_avx512_vnni_t();  // lanes along M, for small N (see its file)
// AVX-VNNI (gemm_s8__avxvnni.cc, built when the compiler supports it: CNNNATIVE_HAVE_AVXVNNI)
// and its EVEX twin for tests on AVX-512 machines (gemm_s8_ymm__avx512vnni.cc).
const S8Kernel& s8_kernel_avx_vnni();
const S8Kernel& s8_kernel_avx_vnni_evex();

// The kernel gemm_s8u8_s32 runs weights packed in `layout` with under the active ISA
// (gemm_s8.cc): that layout's when the ISA has it, else the ISA's default.
const S8Kernel& s8_kernel_for_running(int layout);

// gemm_s8u8_s32_taps_c4's tile (AVX512-VNNI only): C[0:mrows, 0:ncols] (ldc) = the
// 6-row weight tile w (normal VNNI layout, K ordered (tap, channel)) times the columns of
// x, an image of `quads` channel quads (quad_stride bytes apart) with 4 channels per pixel,
// tap t's column n at x + tap_bytes[t] + 4 n. Reads whole 64-byte vectors (up to 16
// columns past ncols).
struct TapsC4Args {
  int64_t quads, taps, tap_groups;  // tap_groups: k groups per tap in the weights (>= quads)
  const int64_t* tap_bytes;
  int64_t quad_stride, ldc;
};
void s8_taps_c4_tile_avx512_vnni(const TapsC4Args& a, const int8_t* w, const uint8_t* x, int32_t* c,
                                 int64_t mrows, int64_t ncols);

// gemm_s8u8_s32_taps_c4t's tile: T[j][0:64] (int32, 64 per pixel) = the 64-row weight tile
// w (the transposed VNNI kernel's layout, K ordered (tap, channel)) times the P <= 6
// pixels at byte offsets pix_bytes[j] of x (4 channels per pixel, as TapsC4Args).
void s8_taps_c4t_tile_avx512_vnni(const TapsC4Args& a, const int8_t* w, const uint8_t* x, const int64_t* pix_bytes,
                                  int64_t P, int32_t* t);

// interleave4_u8 (quant.h) with AVX-512BW; step 1 or 2.
void interleave4_u8_avx512(const uint8_t* const s[4], int64_t n, int64_t step, uint8_t* dst);
// split_interleave4_u8 (quant.h) with AVX-512BW.
void split_interleave4_u8_avx512(const uint8_t* const s[4], int64_t n, uint8_t* even, uint8_t* odd);

// Shared helper for edge tiles: stores/adds acc (mr x nr, dense) into C[0:mrows, 0:ncols].
inline void store_tile(const int32_t* acc, int nr, int32_t* c, int64_t ldc, int64_t mrows, int64_t ncols,
                       bool accumulate) {
  for (int64_t i = 0; i < mrows; ++i)
    for (int64_t j = 0; j < ncols; ++j)
      c[i * ldc + j] = accumulate ? c[i * ldc + j] + acc[i * nr + j] : acc[i * nr + j];
}

}  // namespace cnnnative::quant::detail
