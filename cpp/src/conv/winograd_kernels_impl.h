// Winograd kernels, written once and compiled per ISA. Include only from the
// winograd_kernels*.cc files, after defining WINOGRAD_ISA_NS (a namespace name of
// that ISA, so the three compilations never share a symbol) and WINOGRAD_GEMM_MR
// (rows the GEMM keeps in registers: 12 with 32 zmm, 3 with 16 ymm, 1 with xmm).
//
// Vector code is plain loops over the 32 lanes of a tile block (or GCC vector types in
// the GEMM), so the same source becomes AVX-512, AVX2 or SSE2 code by compile flags.
#include <cstring>

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
template <int ROWS, int K, int J, typename Tm>
inline void apply_left(const Tm& T, const float (*in)[J][L], float (*out)[J][L]) {
#pragma GCC unroll 8
  for (int i = 0; i < ROWS; ++i) {
#pragma GCC unroll 8
    for (int j = 0; j < J; ++j) {
      float acc[L] = {};
#pragma GCC unroll 8
      for (int k = 0; k < K; ++k) {
        const float t = T[i][k];
        if (t == 0.f) continue;
        for (int l = 0; l < L; ++l) acc[l] += t * in[k][j][l];
      }
      for (int l = 0; l < L; ++l) out[i][j][l] = acc[l];
    }
  }
}

// out[i][j][:] = sum_k T[j][k] * in[i][k][:] (the right-hand multiply by T^T).
template <int I, int ROWS, int K, typename Tm>
inline void apply_right(const Tm& T, const float (*in)[K][L], float (*out)[ROWS][L]) {
#pragma GCC unroll 8
  for (int i = 0; i < I; ++i) {
#pragma GCC unroll 8
    for (int j = 0; j < ROWS; ++j) {
      float acc[L] = {};
#pragma GCC unroll 8
      for (int k = 0; k < K; ++k) {
        const float t = T[j][k];
        if (t == 0.f) continue;
        for (int l = 0; l < L; ++l) acc[l] += t * in[i][k][l];
      }
      for (int l = 0; l < L; ++l) out[i][j][l] = acc[l];
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

// U = G f G^T for the 12 filters of one packed row block, channel by channel; the 12
// filters are the vector lanes. f is [C][9][12] (tap-major), U[xi * xi_stride + c*12 + r].
template <int M>
void filter_transform(const float* f, int64_t C, float* u, int64_t xi_stride) {
  constexpr int A = M + 2, R = kRowBlock;
  for (int64_t c = 0; c < C; ++c) {
    const float* fc = f + c * 9 * R;
    float t[A][3][R];
#pragma GCC unroll 8
    for (int i = 0; i < A; ++i)
      for (int s = 0; s < 3; ++s)
        for (int l = 0; l < R; ++l)
          t[i][s][l] = Matrices<M>::G[i][0] * fc[(0 * 3 + s) * R + l] +
                       Matrices<M>::G[i][1] * fc[(1 * 3 + s) * R + l] +
                       Matrices<M>::G[i][2] * fc[(2 * 3 + s) * R + l];
#pragma GCC unroll 8
    for (int i = 0; i < A; ++i)
#pragma GCC unroll 8
      for (int j = 0; j < A; ++j) {
        float* dst = u + (i * A + j) * xi_stride + c * R;
        for (int l = 0; l < R; ++l)
          dst[l] = t[i][0][l] * Matrices<M>::G[j][0] + t[i][1][l] * Matrices<M>::G[j][1] +
                   t[i][2][l] * Matrices<M>::G[j][2];
      }
  }
}

// The transform-domain GEMM. MR rows of M live in 2*MR vector registers (16 lanes each)
// while the C loop streams V once; U is read as broadcasts.
typedef float v16 __attribute__((vector_size(64)));
typedef float v16u __attribute__((vector_size(64), aligned(4)));

template <int MR>
inline void gemm_rows(const float* u, const float* v, float* m, int64_t C) {
  v16 acc0[MR], acc1[MR];
  for (int r = 0; r < MR; ++r) acc0[r] = acc1[r] = v16{};
  for (int64_t c = 0; c < C; ++c) {
    const v16 b0 = *reinterpret_cast<const v16u*>(v + c * L);
    const v16 b1 = *reinterpret_cast<const v16u*>(v + c * L + 16);
    const float* uc = u + c * kRowBlock;
    for (int r = 0; r < MR; ++r) {
      acc0[r] += b0 * uc[r];
      acc1[r] += b1 * uc[r];
    }
  }
  for (int r = 0; r < MR; ++r) {
    *reinterpret_cast<v16u*>(m + r * L) = acc0[r];
    *reinterpret_cast<v16u*>(m + r * L + 16) = acc1[r];
  }
}

inline void gemm(const float* u, const float* v, float* m, int64_t C, int rows) {
  int r = 0;
  for (; r + WINOGRAD_GEMM_MR <= rows; r += WINOGRAD_GEMM_MR)
    gemm_rows<WINOGRAD_GEMM_MR>(u + r, v, m + r * L, C);
  if (WINOGRAD_GEMM_MR > 4)
    for (; r + 4 <= rows; r += 4) gemm_rows<4>(u + r, v, m + r * L, C);
  for (; r < rows; ++r) gemm_rows<1>(u + r, v, m + r * L, C);
}

template <int M>
constexpr Kernels make_kernels() {
  return Kernels{&input_transform<M>, &output_transform<M>, &gemm, &filter_transform<M>};
}

inline const Kernels& table(int m) {
  static const Kernels k2 = make_kernels<2>(), k4 = make_kernels<4>(), k6 = make_kernels<6>();
  return m == 2 ? k2 : m == 4 ? k4 : k6;
}

}  // namespace WINOGRAD_ISA_NS
}  // namespace winograd
}  // namespace cnnnative
