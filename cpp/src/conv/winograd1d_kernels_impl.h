// 1-D Winograd transforms, written once and compiled per ISA. Include only from the
// winograd1d_kernels*.cc files, after defining WINOGRAD1D_ISA_NS (a namespace name of that
// ISA). Plain loops over the 32 lanes of a block: the compiler vectorises the transforms;
// the strided window loads and output stores stay one value at a time.
#include <algorithm>

#include "winograd1d_kernels.h"

#ifndef WINOGRAD1D_ISA_NS
#error "define WINOGRAD1D_ISA_NS before including winograd1d_kernels_impl.h"
#endif

namespace cnnnative {
namespace winograd1d {
namespace WINOGRAD1D_ISA_NS {

constexpr int L = kLanes;

// Cook-Toom on the points 0, +-1, +-2 (, +-1/2) and infinity (as winograd_kernels_impl.h;
// G lives in winograd1d.cc, in double).
template <int M>
struct Mat;
template <>
struct Mat<4> {
  static constexpr float BT[6][6] = {{4, 0, -5, 0, 1, 0},  {0, -4, -4, 1, 1, 0}, {0, 4, -4, -1, 1, 0},
                                     {0, -2, -1, 2, 1, 0}, {0, 2, -1, -2, 1, 0}, {0, 4, 0, -5, 0, 1}};
  static constexpr float AT[4][6] = {
      {1, 1, 1, 1, 1, 0}, {0, 1, -1, 2, -2, 0}, {0, 1, 1, 4, 4, 0}, {0, 1, -1, 8, -8, 1}};
};
template <>
struct Mat<6> {
  static constexpr float BT[8][8] = {
      {-1, 0, 5.25f, 0, -5.25f, 0, 1, 0},        {0, 1, 1, -4.25f, -4.25f, 1, 1, 0},
      {0, -1, 1, 4.25f, -4.25f, -1, 1, 0},       {0, 2, 4, -2.5f, -5, 0.5f, 1, 0},
      {0, -2, 4, 2.5f, -5, -0.5f, 1, 0},         {0, 0.5f, 0.25f, -2.5f, -1.25f, 2, 1, 0},
      {0, -0.5f, 0.25f, 2.5f, -1.25f, -2, 1, 0}, {0, -1, 0, 5.25f, 0, -5.25f, 0, 1}};
  static constexpr float AT[6][8] = {{1, 1, 1, 1, 1, 1, 1, 0},
                                     {0, 1, -1, 0.5f, -0.5f, 2, -2, 0},
                                     {0, 1, 1, 0.25f, 0.25f, 4, 4, 0},
                                     {0, 1, -1, 0.125f, -0.125f, 8, -8, 0},
                                     {0, 1, 1, 0.0625f, 0.0625f, 16, 16, 0},
                                     {0, 1, -1, 0.03125f, -0.03125f, 32, -32, 1}};
};

// out[j][:] = sum_i T[j][i] in[i][:] for a constant J x I matrix (zero entries skipped
// once the loops unroll).
template <int J, int I, typename Tm>
__attribute__((always_inline)) inline void apply(const Tm& T, const float (*in)[L], float* out, int64_t stride) {
#pragma GCC unroll 8
  for (int j = 0; j < J; ++j) {
    float acc[L] = {};
#pragma GCC unroll 8
    for (int i = 0; i < I; ++i) {
      const float c = T[j][i];
      if (c == 0.f) continue;
      for (int l = 0; l < L; ++l) acc[l] += c * in[i][l];
    }
    float* o = out + j * stride;
    for (int l = 0; l < L; ++l) o[l] = acc[l];
  }
}

// d[i][l] = row value at the window's i-th tap (0 outside the row and past n).
template <int I>
__attribute__((always_inline)) inline void load_windows(const BlockLanes& b, const float* x, float (*d)[L]) {
  const int64_t s = b.step;
  if (b.full) {
#pragma GCC unroll 8
    for (int i = 0; i < I; ++i)
      for (int l = 0; l < L; ++l) d[i][l] = x[b.off[l] + s * i];
    return;
  }
  for (int l = 0; l < L; ++l)
    for (int i = 0; i < I; ++i) {
      const int64_t p = l < b.n ? b.pos[l] + s * i : -1;
      d[i][l] = p >= 0 && p < b.len ? x[b.off[l] + s * i] : 0.f;
    }
}

template <int M>
void input(const BlockLanes& b, const float* x, float* v, int64_t xi_stride) {
  constexpr int A = M + 2;
  alignas(64) float d[A][L];
  load_windows<A>(b, x, d);
  apply<A, A>(Mat<M>::BT, d, v, xi_stride);
}

template <int M>
void grad(const BlockLanes& b, const float* dy, float* g, int64_t xi_stride) {
  constexpr int A = M + 2;
  alignas(64) float d[M][L];
  load_windows<M>(b, dy, d);
  // g = A d: the transpose of A^T.
  float AM[A][M];
  for (int xi = 0; xi < A; ++xi)
    for (int r = 0; r < M; ++r) AM[xi][r] = Mat<M>::AT[r][xi];
  apply<A, M>(AM, d, g, xi_stride);
}

// Plain stores: AVX-512 scatters measured slower (on AMD Zen 4) than one store per value.
template <int M>
__attribute__((noinline, optimize("no-tree-vectorize"))) void store_outputs(const BlockLanes& b,
                                                                            const float (*out)[L], float* y) {
  const int64_t s = b.step;
  if (b.full) {
    for (int l = 0; l < L; ++l) {
      float* dst = y + b.off[l];
      for (int r = 0; r < M; ++r) dst[s * r] = out[r][l];
    }
    return;
  }
  for (int l = 0; l < b.n; ++l)
    for (int r = 0; r < M && b.pos[l] + s * r < b.len; ++r) y[b.off[l] + s * r] = out[r][l];
}

template <int M>
void output(const BlockLanes& b, const float* mm, int64_t xi_stride, float bias, float* y) {
  constexpr int A = M + 2;
  alignas(64) float out[M][L];
#pragma GCC unroll 8
  for (int r = 0; r < M; ++r) {
    float acc[L];
    for (int l = 0; l < L; ++l) acc[l] = bias;
#pragma GCC unroll 8
    for (int xi = 0; xi < A; ++xi) {
      const float c = Mat<M>::AT[r][xi];
      if (c == 0.f) continue;
      const float* src = mm + xi * xi_stride;
      for (int l = 0; l < L; ++l) acc[l] += c * src[l];
    }
    for (int l = 0; l < L; ++l) out[r][l] = acc[l];
  }
  store_outputs<M>(b, out, y);
}

inline const Kernels& table(int m) {
  static const Kernels k4{&input<4>, &output<4>, &grad<4>}, k6{&input<6>, &output<6>, &grad<6>};
  return m == 6 ? k6 : k4;
}

}  // namespace WINOGRAD1D_ISA_NS
}  // namespace winograd1d
}  // namespace cnnnative
