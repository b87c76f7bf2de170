// Winograd kernels, written once and compiled per ISA. Include only from the
// winograd_kernels*.cc files, after defining WINOGRAD_ISA_NS (a namespace name of
// that ISA, so the three compilations never share a symbol) and WINOGRAD_GEMM_MR
// (rows the GEMM keeps in registers: 12 with 32 zmm, 3 with 16 ymm, 1 with xmm).
//
// Vector code is plain loops over the 32 lanes of a tile block (or GCC vector types in
// the GEMM), so the same source becomes AVX-512, AVX2 or SSE2 code by compile flags.
#include <cstring>
#ifdef __AVX512F__
#include <immintrin.h>
#endif

#include "winograd_kernels.h"

#ifndef WINOGRAD_ISA_NS
#error "define WINOGRAD_ISA_NS before including winograd_kernels_impl.h"
#endif

namespace cnnnative {
namespace winograd {
namespace WINOGRAD_ISA_NS {

constexpr int L = kTileBlock;

// Transform matrices (Cook-Toom on the points 0, +-1, +-2, +-1/2 and infinity). B^T and
// A^T are exact in float; G (filters) is rounded, which changes a transformed weight by
// about one ulp, far below the transform error of the data path.
template <int M>
struct Matrices;
template <>
struct Matrices<2> {
  static constexpr float BT[4][4] = {{-1, 0, 1, 0}, {0, 1, 1, 0}, {0, -1, 1, 0}, {0, -1, 0, 1}};
  static constexpr float AT[2][4] = {{1, 1, 1, 0}, {0, 1, -1, 1}};
  static constexpr float G[4][3] = {{-1, 0, 0}, {0.5f, 0.5f, 0.5f}, {0.5f, -0.5f, 0.5f}, {0, 0, 1}};
};
template <>
struct Matrices<4> {
  static constexpr float BT[6][6] = {{4, 0, -5, 0, 1, 0},  {0, -4, -4, 1, 1, 0},
                                     {0, 4, -4, -1, 1, 0}, {0, -2, -1, 2, 1, 0},
                                     {0, 2, -1, -2, 1, 0}, {0, 4, 0, -5, 0, 1}};
  static constexpr float AT[4][6] = {
      {1, 1, 1, 1, 1, 0}, {0, 1, -1, 2, -2, 0}, {0, 1, 1, 4, 4, 0}, {0, 1, -1, 8, -8, 1}};
  static constexpr float G[6][3] = {{1.0f / 4, 0, 0},
                                    {-1.0f / 6, -1.0f / 6, -1.0f / 6},
                                    {-1.0f / 6, 1.0f / 6, -1.0f / 6},
                                    {1.0f / 24, 1.0f / 12, 1.0f / 6},
                                    {1.0f / 24, -1.0f / 12, 1.0f / 6},
                                    {0, 0, 1}};
};
template <>
struct Matrices<6> {
  static constexpr float BT[8][8] = {
      {-1, 0, 5.25f, 0, -5.25f, 0, 1, 0},         {0, 1, 1, -4.25f, -4.25f, 1, 1, 0},
      {0, -1, 1, 4.25f, -4.25f, -1, 1, 0},        {0, 2, 4, -2.5f, -5, 0.5f, 1, 0},
      {0, -2, 4, 2.5f, -5, -0.5f, 1, 0},          {0, 0.5f, 0.25f, -2.5f, -1.25f, 2, 1, 0},
      {0, -0.5f, 0.25f, 2.5f, -1.25f, -2, 1, 0},  {0, -1, 0, 5.25f, 0, -5.25f, 0, 1}};
  static constexpr float AT[6][8] = {
      {1, 1, 1, 1, 1, 1, 1, 0},
      {0, 1, -1, 0.5f, -0.5f, 2, -2, 0},
      {0, 1, 1, 0.25f, 0.25f, 4, 4, 0},
      {0, 1, -1, 0.125f, -0.125f, 8, -8, 0},
      {0, 1, 1, 0.0625f, 0.0625f, 16, 16, 0},
      {0, 1, -1, 0.03125f, -0.03125f, 32, -32, 1}};
  static constexpr float G[8][3] = {{-1, 0, 0},
                                    {-2.0f / 9, -2.0f / 9, -2.0f / 9},
                                    {-2.0f / 9, 2.0f / 9, -2.0f / 9},
                                    {32.0f / 45, 16.0f / 45, 8.0f / 45},
                                    {32.0f / 45, -16.0f / 45, 8.0f / 45},
                                    {1.0f / 90, 1.0f / 45, 2.0f / 45},
                                    {1.0f / 90, -1.0f / 45, 2.0f / 45},
                                    {0, 0, 1}};
};

// out[i][j][:] = sum_k T[i][k] * in[k][j][:] for a ROWS x K matrix T, J columns, 32 lanes.
// Loops over constants unroll fully, so zero entries cost nothing.
template <int ROWS, int K, int J, typename Tm, int LN = L>
inline void apply_left(const Tm& T, const float (*in)[J][LN], float (*out)[J][LN]) {
#pragma GCC unroll 8
  for (int i = 0; i < ROWS; ++i) {
#pragma GCC unroll 8
    for (int j = 0; j < J; ++j) {
      float acc[LN] = {};
#pragma GCC unroll 8
      for (int k = 0; k < K; ++k) {
        const float t = T[i][k];
        if (t == 0.f) continue;
        for (int l = 0; l < LN; ++l) acc[l] += t * in[k][j][l];
      }
      for (int l = 0; l < LN; ++l) out[i][j][l] = acc[l];
    }
  }
}

// out[i][j][:] = sum_k T[j][k] * in[i][k][:] (the right-hand multiply by T^T).
template <int I, int ROWS, int K, typename Tm, int LN = L>
inline void apply_right(const Tm& T, const float (*in)[K][LN], float (*out)[ROWS][LN]) {
#pragma GCC unroll 8
  for (int i = 0; i < I; ++i) {
#pragma GCC unroll 8
    for (int j = 0; j < ROWS; ++j) {
      float acc[LN] = {};
#pragma GCC unroll 8
      for (int k = 0; k < K; ++k) {
        const float t = T[j][k];
        if (t == 0.f) continue;
        for (int l = 0; l < LN; ++l) acc[l] += t * in[i][k][l];
      }
      for (int l = 0; l < LN; ++l) out[i][j][l] = acc[l];
    }
  }
}

template <int M>
void input_transform(const InputTransformArgs& a) {
  constexpr int A = M + 2;
  alignas(64) float d[A][A][L];
  alignas(64) float t[A][A][L];
  const TileGeometry& g = a.tiles;
  const int64_t tiles_per_image = g.TH * g.TW;
  // Gather each lane's (m+2)^2 window; outside the image (padding) and past the last
  // tile of the block the window is zero.
  for (int lane = 0; lane < L; ++lane) {
    const int64_t tile = g.tile_begin + lane;
    if (tile >= g.tile_end) {
      for (int i = 0; i < A; ++i)
        for (int j = 0; j < A; ++j) d[i][j][lane] = 0.f;
      continue;
    }
    const int64_t n = tile / tiles_per_image, r = tile % tiles_per_image;
    const int64_t ih0 = (r / g.TW) * M - g.pad_top, iw0 = (r % g.TW) * M - g.pad_left;
    const float* plane = a.x + n * a.image_stride;
    const bool interior = ih0 >= 0 && iw0 >= 0 && ih0 + A <= a.H && iw0 + A <= a.W;
    if (interior) {
      for (int i = 0; i < A; ++i) {
        const float* row = plane + (ih0 + i) * a.W + iw0;
        for (int j = 0; j < A; ++j) d[i][j][lane] = row[j];
      }
    } else {
      for (int i = 0; i < A; ++i) {
        const int64_t ih = ih0 + i;
        const bool row_ok = ih >= 0 && ih < a.H;
        for (int j = 0; j < A; ++j) {
          const int64_t iw = iw0 + j;
          d[i][j][lane] = (row_ok && iw >= 0 && iw < a.W) ? plane[ih * a.W + iw] : 0.f;
        }
      }
    }
  }
  // V = B^T d B, columns first then rows.
  apply_left<A, A, A>(Matrices<M>::BT, d, t);
  apply_right<A, A, A>(Matrices<M>::BT, t, d);
  for (int i = 0; i < A; ++i)
    for (int j = 0; j < A; ++j) std::memcpy(a.v + (i * A + j) * a.xi_stride, d[i][j], sizeof(float) * L);
}

template <int M>
void output_transform(const OutputTransformArgs& a) {
  constexpr int A = M + 2;
  alignas(64) float mm[A][A][L];
  alignas(64) float t[M][A][L];
  alignas(64) float out[M][M][L];
  for (int i = 0; i < A; ++i)
    for (int j = 0; j < A; ++j) std::memcpy(mm[i][j], a.m + (i * A + j) * a.xi_stride, sizeof(float) * L);
  // Y = A^T M A
  apply_left<M, A, A>(Matrices<M>::AT, mm, t);
  apply_right<M, M, A>(Matrices<M>::AT, t, out);
  const TileGeometry& g = a.tiles;
  const int64_t tiles_per_image = g.TH * g.TW;
  const int64_t count = g.tile_end - g.tile_begin;
  for (int64_t lane = 0; lane < count && lane < L; ++lane) {
    const int64_t tile = g.tile_begin + lane;
    const int64_t n = tile / tiles_per_image, r = tile % tiles_per_image;
    const int64_t oh0 = (r / g.TW) * M, ow0 = (r % g.TW) * M;
    const int64_t offset = n * a.image_stride;
    float* plane = a.y + offset;
    const float* res = a.residual ? a.residual + offset : nullptr;
    for (int i = 0; i < M && oh0 + i < a.OH; ++i) {
      for (int j = 0; j < M && ow0 + j < a.OW; ++j) {
        const int64_t idx = (oh0 + i) * a.OW + ow0 + j;
        float v = out[i][j][lane] + a.bias;
        if (res) v += res[idx];
        if (a.activation == Activation::relu) v = v > 0.f ? v : 0.f;
        if (a.activation == Activation::relu6) v = v > 0.f ? (v < 6.f ? v : 6.f) : 0.f;
        plane[idx] = v;
      }
    }
  }
}

// One 16-lane vector (GCC vector types: one zmm, two ymm or four xmm by compile flags).
typedef float v16 __attribute__((vector_size(64)));
typedef float v16u __attribute__((vector_size(64), aligned(4)));

// sum_k row[k] * x[k] over the nonzero entries of a constant matrix row (the loops that
// call it unroll fully, so the zero tests and multiplies by 1 fold away).
template <int K, typename Row>
inline v16 combine(const Row& row, const v16* x, int stride) {
  v16 acc = v16{};
  bool first = true;
#pragma GCC unroll 8
  for (int k = 0; k < K; ++k) {
    const float c = row[k];
    if (c == 0.f) continue;
    const v16 term = c == 1.f ? x[k * stride] : c == -1.f ? -x[k * stride] : x[k * stride] * c;
    acc = first ? term : acc + term;
    first = false;
  }
  return acc;
}

// U = G f G^T for the filters of one packed row block, 16 input channels at a time (the
// vector lanes). Filter (kr, c) is w[kr * k_stride + c*9 .. +9] (OIHW order) for kr < rows;
// rows..11 and channels C..ceil16(C)-1 get zero filters. Output in the packed layout
// u[xi * xi_stride + (c/16)*192 + kr*16 + c%16].
template <int M>
void filter_transform(const float* w, int64_t k_stride, int rows, int64_t C, float* u, int64_t xi_stride) {
  constexpr int A = M + 2, CB = kChannelBlock;
  static_assert(CB == 16, "one v16 per panel row");
  for (int kr = 0; kr < kRowBlock; ++kr) {
    for (int64_t c0 = 0; c0 < C; c0 += CB) {
      v16 g[9];  // g[r*3 + s]: tap (r, s) of the 16 filters
      const float* src = w + kr * k_stride + c0 * 9;
      if (kr < rows && c0 + CB <= C) {
        // 16 filters of 9 taps are 144 consecutive floats: split them tap-major (one
        // gather per tap; GCC would build each vector from 16 scalar inserts).
#ifdef __AVX512F__
        const __m512i idx = _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                                               _mm512_set1_epi32(9));
        for (int tp = 0; tp < 9; ++tp) g[tp] = _mm512_i32gather_ps(idx, src + tp, 4);
#else
        for (int tp = 0; tp < 9; ++tp)
          for (int l = 0; l < CB; ++l) g[tp][l] = src[l * 9 + tp];
#endif
      } else {
        const int64_t n = kr < rows ? C - c0 : 0;
        for (int tp = 0; tp < 9; ++tp)
          for (int l = 0; l < CB; ++l) g[tp][l] = l < n ? src[l * 9 + tp] : 0.f;
      }
      v16 t[A][3];  // G f: t[i][s] = sum_r G[i][r] f[r][s]
#pragma GCC unroll 8
      for (int i = 0; i < A; ++i)
#pragma GCC unroll 3
        for (int s = 0; s < 3; ++s) t[i][s] = combine<3>(Matrices<M>::G[i], g + s, 3);
      float* dst = u + (c0 / CB) * CB * kRowBlock + kr * CB;
#pragma GCC unroll 8
      for (int i = 0; i < A; ++i)
#pragma GCC unroll 8
        for (int j = 0; j < A; ++j)
          *reinterpret_cast<v16u*>(dst + (i * A + j) * xi_stride) = combine<3>(Matrices<M>::G[j], t[i], 1);
    }
  }
}

// The transform-domain GEMM. MR rows of M live in NV*MR vector registers (16 lanes
// each: NV = 2 for a full block of 32 tiles, 1 for a half block of <= 16 tiles) while
// the C loop streams V once; U is read as broadcasts.

template <int MR, int NV>
inline void gemm_rows(const float* u, const float* v, float* m, int64_t C) {
  v16 acc[MR][NV];
  for (int r = 0; r < MR; ++r)
    for (int j = 0; j < NV; ++j) acc[r][j] = v16{};
  for (int64_t c = 0; c < C; ++c) {
    v16 b[NV];
    for (int j = 0; j < NV; ++j) b[j] = *reinterpret_cast<const v16u*>(v + c * L + 16 * j);
    const float* uc = u + c * kRowBlock;
    for (int r = 0; r < MR; ++r)
      for (int j = 0; j < NV; ++j) acc[r][j] += b[j] * uc[r];
  }
  for (int r = 0; r < MR; ++r)
    for (int j = 0; j < NV; ++j) *reinterpret_cast<v16u*>(m + r * L + 16 * j) = acc[r][j];
}

// Rows in registers: WINOGRAD_GEMM_MR for full blocks, twice that (at most one packed
// row block) for half blocks, which need half the accumulators per row.
template <int NV>
inline void gemm_lanes(const float* u, const float* v, float* m, int64_t C, int rows) {
  constexpr int MR = NV == 2 ? WINOGRAD_GEMM_MR : (2 * WINOGRAD_GEMM_MR > kRowBlock ? kRowBlock : 2 * WINOGRAD_GEMM_MR);
  int r = 0;
  for (; r + MR <= rows; r += MR) gemm_rows<MR, NV>(u + r, v, m + r * L, C);
  if (MR > 4)
    for (; r + 4 <= rows; r += 4) gemm_rows<4, NV>(u + r, v, m + r * L, C);
  for (; r < rows; ++r) gemm_rows<1, NV>(u + r, v, m + r * L, C);
}

// The tiled FFT's GEMM: U packed [C][12].
inline void gemm(const float* u, const float* v, float* m, int64_t C, int rows) {
  gemm_lanes<2>(u, v, m, C, rows);
}

// Winograd's GEMM: U packed [ceil(C/16)][12][16] (see filter_transform), so the filter
// transform writes whole vectors; the 16 channels of a block unroll with constant offsets.
template <int MR, int NV>
inline void wgemm_rows(const float* u, const float* v, float* m, int64_t C) {
  constexpr int CB = kChannelBlock;
  v16 acc[MR][NV];
  for (int r = 0; r < MR; ++r)
    for (int j = 0; j < NV; ++j) acc[r][j] = v16{};
  int64_t c = 0;
  for (; c + CB <= C; c += CB) {
    const float* ub = u + c * kRowBlock;
#pragma GCC unroll 16
    for (int ci = 0; ci < CB; ++ci) {
      v16 b[NV];
      for (int j = 0; j < NV; ++j) b[j] = *reinterpret_cast<const v16u*>(v + (c + ci) * L + 16 * j);
      for (int r = 0; r < MR; ++r)
        for (int j = 0; j < NV; ++j) acc[r][j] += b[j] * ub[r * CB + ci];
    }
  }
  const float* ub = u + c * kRowBlock;
  for (int ci = 0; c + ci < C; ++ci) {
    v16 b[NV];
    for (int j = 0; j < NV; ++j) b[j] = *reinterpret_cast<const v16u*>(v + (c + ci) * L + 16 * j);
    for (int r = 0; r < MR; ++r)
      for (int j = 0; j < NV; ++j) acc[r][j] += b[j] * ub[r * CB + ci];
  }
  for (int r = 0; r < MR; ++r)
    for (int j = 0; j < NV; ++j) *reinterpret_cast<v16u*>(m + r * L + 16 * j) = acc[r][j];
}

template <int NV>
inline void wgemm_lanes(const float* u, const float* v, float* m, int64_t C, int rows) {
  constexpr int MR = NV == 2 ? WINOGRAD_GEMM_MR : (2 * WINOGRAD_GEMM_MR > kRowBlock ? kRowBlock : 2 * WINOGRAD_GEMM_MR);
  int r = 0;
  for (; r + MR <= rows; r += MR) wgemm_rows<MR, NV>(u + r * kChannelBlock, v, m + r * L, C);
  if (MR > 4)
    for (; r + 4 <= rows; r += 4) wgemm_rows<4, NV>(u + r * kChannelBlock, v, m + r * L, C);
  for (; r < rows; ++r) wgemm_rows<1, NV>(u + r * kChannelBlock, v, m + r * L, C);
}

inline void wgemm(const float* u, const float* v, float* m, int64_t C, int rows) { wgemm_lanes<2>(u, v, m, C, rows); }
inline void wgemm_half(const float* u, const float* v, float* m, int64_t C, int rows) {
  wgemm_lanes<1>(u, v, m, C, rows);
}

template <int M>
constexpr Kernels make_kernels() {
  return Kernels{&input_transform<M>, &output_transform<M>, &gemm, &wgemm, &wgemm_half, &filter_transform<M>};
}

inline const Kernels& table(int m) {
  static const Kernels k2 = make_kernels<2>(), k4 = make_kernels<4>(), k6 = make_kernels<6>();
  return m == 2 ? k2 : m == 4 ? k4 : k6;
}

}  // namespace WINOGRAD_ISA_NS
}  // namespace winograd
}  // namespace cnnnative
