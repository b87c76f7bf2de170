// Kernels of conv_transpose_subpixel_wgrad_kernels.h, compiled per ISA. Include only from
// the conv_transpose_subpixel_wgrad_kernels*.cc files, after defining WGRAD_ISA_NS.
#include <algorithm>
#ifdef __AVX512F__
#include <immintrin.h>

#include "gemm/transpose16x16__avx512.h"
#endif

#include "conv_transpose_subpixel_wgrad_kernels.h"

#ifndef WGRAD_ISA_NS
#error "define WGRAD_ISA_NS before including conv_transpose_subpixel_wgrad_kernels_impl.h"
#endif

namespace cnnnative {
namespace subpixel {
namespace WGRAD_ISA_NS {

constexpr int L = kWgLanes, M = 4, A = 6, XI = 36;
// F(4x4, 3x3)'s A^T and G (winograd_kernels_impl.h has the same numbers).
constexpr float AT[M][A] = {{1, 1, 1, 1, 1, 0}, {0, 1, -1, 2, -2, 0}, {0, 1, 1, 4, 4, 0}, {0, 1, -1, 8, -8, 1}};
constexpr float G[A][3] = {{1.0f / 4, 0, 0},
                           {-1.0f / 6, -1.0f / 6, -1.0f / 6},
                           {-1.0f / 6, 1.0f / 6, -1.0f / 6},
                           {1.0f / 24, 1.0f / 12, 1.0f / 6},
                           {1.0f / 24, -1.0f / 12, 1.0f / 6},
                           {0, 0, 1}};

void grad_transform(const GradTileArgs& g) {
  alignas(64) float y[M][M][L];
  alignas(64) float t[A][M][L];
  for (int l = 0; l < g.lanes; ++l) {
    const float* src = g.plane + g.offset[l];
    if (g.rows[l] == M && g.cols[l] == M) {
#pragma GCC unroll 4
      for (int a = 0; a < M; ++a)
#pragma GCC unroll 4
        for (int b = 0; b < M; ++b) y[a][b][l] = src[a * g.row_step + b * g.col_step];
    } else {
      for (int a = 0; a < M; ++a)
        for (int b = 0; b < M; ++b) y[a][b][l] = a < g.rows[l] && b < g.cols[l] ? src[a * g.row_step + b * g.col_step] : 0.f;
    }
  }
  for (int l = g.lanes; l < L; ++l)
    for (int a = 0; a < M; ++a)
      for (int b = 0; b < M; ++b) y[a][b][l] = 0.f;
  // t = A y (columns), then D = t A^T (rows), with A = AT^T.
#pragma GCC unroll 6
  for (int i = 0; i < A; ++i)
#pragma GCC unroll 4
    for (int b = 0; b < M; ++b)
      for (int l = 0; l < L; ++l) {
        float s = 0.f;
#pragma GCC unroll 4
        for (int a = 0; a < M; ++a) s += AT[a][i] * y[a][b][l];
        t[i][b][l] = s;
      }
#pragma GCC unroll 6
  for (int i = 0; i < A; ++i)
#pragma GCC unroll 6
    for (int j = 0; j < A; ++j) {
      float* out = g.d + (i * A + j) * g.xi_stride;
      alignas(64) float row[L];
      for (int l = 0; l < L; ++l) {
        float s = 0.f;
#pragma GCC unroll 4
        for (int b = 0; b < M; ++b) s += AT[b][j] * t[i][b][l];
        row[l] = s;
      }
      for (int l = 0; l < 16; ++l) out[l] = row[l];
      for (int l = 0; l < 16; ++l) out[g.half_offset + l] = row[16 + l];
    }
}

void reduce(const float* du, int64_t xi_stride, const int* ab, int n, uint64_t points, float* out) {
  int cols = 0;  // the window columns any requested tap needs
  for (int k = 0; k < n; ++k) cols |= 1 << (ab[k] % 3);
  // The rows i of dU the phase's points reach: t[i] of the others would only meet zeros of
  // G in the second sum (its columns' zeros are G's own, skipped below).
  int point_rows = 0;
  for (int xi = 0; xi < XI; ++xi)
    if (points >> xi & 1) point_rows |= 1 << (xi / A);
  alignas(64) float t[A][3][L];  // t[i][s] = sum_j dU[i][j] G[j][s], rows in point_rows
  for (int s = 0; s < 3; ++s) {
    if (!(cols >> s & 1)) continue;
#pragma GCC unroll 6
    for (int i = 0; i < A; ++i) {
      if (!(point_rows >> i & 1)) continue;
      float acc[L] = {};
#pragma GCC unroll 6
      for (int j = 0; j < A; ++j) {
        const float gj = G[j][s];
        if (gj == 0.f) continue;
        const float* src = du + (i * A + j) * xi_stride;
        for (int l = 0; l < L; ++l) acc[l] += gj * src[l];
      }
      for (int l = 0; l < L; ++l) t[i][s][l] = acc[l];
    }
  }
  for (int k = 0; k < n; ++k) {
    const int r = ab[k] / 3, s = ab[k] % 3;
    float acc[L] = {};
#pragma GCC unroll 6
    for (int i = 0; i < A; ++i) {
      const float gi = G[i][r];
      if (gi == 0.f || !(point_rows >> i & 1)) continue;
      for (int l = 0; l < L; ++l) acc[l] += gi * t[i][s][l];
    }
    for (int l = 0; l < L; ++l) out[k * L + l] = acc[l];
  }
}

void transpose(const float* in, float* out, int64_t xi_stride) {
  for (int xi = 0; xi < XI; ++xi) {
    float* o = out + xi * xi_stride;
    for (int t = 0; t < L; ++t)
      for (int c = 0; c < L; ++c) o[t * L + c] = in[(c * XI + xi) * L + t];
  }
}

void store_runs(const FilterRunArgs& a) {
#ifdef __AVX512F__
  for (int l0 = 0; l0 < a.lanes; l0 += 16)
    for (int64_t e0 = 0; e0 < a.run_len; e0 += 16) {
      const int64_t n = std::min<int64_t>(16, a.run_len - e0);
      __m512 r[16];
      for (int i = 0; i < 16; ++i) r[i] = i < n ? _mm512_loadu_ps(a.out + a.src[e0 + i] + l0) : _mm512_setzero_ps();
      gemm_detail::transpose16x16(r);  // r[i]: lane l0 + i's elements e0 .. e0 + 15
      const __mmask16 m = static_cast<__mmask16>((1u << n) - 1);
      for (int i = 0; i < 16 && l0 + i < a.lanes; ++i) {
        float* d = a.dst + (l0 + i) * a.lane_stride + e0;
        _mm512_mask_storeu_ps(d, m, a.accumulate ? _mm512_add_ps(_mm512_maskz_loadu_ps(m, d), r[i]) : r[i]);
      }
    }
#else
  for (int l = 0; l < a.lanes; ++l) {
    float* d = a.dst + l * a.lane_stride;
    for (int64_t e = 0; e < a.run_len; ++e) d[e] = (a.accumulate ? d[e] : 0.f) + a.out[a.src[e] + l];
  }
#endif
}

inline const WgradKernels& table() {
  static const WgradKernels k{&grad_transform, &reduce, &transpose, &store_runs};
  return k;
}

}  // namespace WGRAD_ISA_NS
}  // namespace subpixel
}  // namespace cnnnative
