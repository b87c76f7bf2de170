// Winograd kernels, written once and compiled per ISA. Include only from the
// winograd_kernels*.cc files, after defining WINOGRAD_ISA_NS (a namespace name of
// that ISA, so the three compilations never share a symbol) and WINOGRAD_GEMM_MR
// (rows the GEMM keeps in registers: 12 with 32 zmm, 3 with 16 ymm, 1 with xmm).
//
// Vector code is plain loops over the 32 lanes of a tile block (or GCC vector types in
// the GEMM), so the same source becomes AVX-512, AVX2 or SSE2 code by compile flags.
#include <algorithm>
#include <cstring>
#include <type_traits>
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

// One 16-lane vector (GCC vector types: one zmm, two ymm or four xmm by compile flags).
// Passed by value only between inline functions of one ISA's file, so the ABI note GCC
// gives for them without AVX-512 does not apply.
#pragma GCC diagnostic ignored "-Wpsabi"
typedef float v16 __attribute__((vector_size(64)));
typedef float v16u __attribute__((vector_size(64), aligned(4)));

// sum_k row[k] * x[k] over the nonzero entries of a constant matrix row (the loops that
// call it unroll fully, so the zero tests and multiplies by 1 fold away).
template <int K, typename Row>
__attribute__((always_inline)) inline v16 combine(const Row& row, const v16* x, int stride) {
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

constexpr int NVL = L / 16;  // vectors per 32-lane row

// out[i][j][:] = sum_k T[i][k] * in[k][j][:] for a ROWS x K constant matrix T, J columns,
// 32 lanes (2 vectors).
template <int ROWS, int K, int J, typename Tm>
inline void apply_left(const Tm& T, const float (*in)[J][L], float (*out)[J][L]) {
  const v16* x = reinterpret_cast<const v16*>(in);
  v16* y = reinterpret_cast<v16*>(out);
#pragma GCC unroll 8
  for (int i = 0; i < ROWS; ++i)
#pragma GCC unroll 8
    for (int j = 0; j < J; ++j)
      for (int h = 0; h < NVL; ++h) y[(i * J + j) * NVL + h] = combine<K>(T[i], x + j * NVL + h, J * NVL);
}

// out[i][j][:] = sum_k T[j][k] * in[i][k][:] (the right-hand multiply by T^T).
template <int I, int ROWS, int K, typename Tm>
inline void apply_right(const Tm& T, const float (*in)[K][L], float (*out)[ROWS][L]) {
  const v16* x = reinterpret_cast<const v16*>(in);
  v16* y = reinterpret_cast<v16*>(out);
#pragma GCC unroll 8
  for (int i = 0; i < I; ++i)
#pragma GCC unroll 8
    for (int j = 0; j < ROWS; ++j)
      for (int h = 0; h < NVL; ++h) y[(i * ROWS + j) * NVL + h] = combine<K>(T[j], x + i * K * NVL + h, NVL);
}

// F(4x4)'s transforms with shared terms (13 operations instead of 22 for B^T, 10
// instead of 18 for A^T): y[k*ys] = (B^T x)[k] over x[k*xs], k < 6.
inline void bt4(const v16* x, int xs, v16* y, int ys) {
  const v16 d0 = x[0], d1 = x[xs], d2 = x[2 * xs], d3 = x[3 * xs], d4 = x[4 * xs], d5 = x[5 * xs];
  const v16 a = d4 - 4.f * d2, b = d3 - 4.f * d1, c = d4 - d2, e = 2.f * (d3 - d1);
  y[0] = (4.f * d0 + d4) - 5.f * d2;
  y[ys] = a + b;
  y[2 * ys] = a - b;
  y[3 * ys] = c + e;
  y[4 * ys] = c - e;
  y[5 * ys] = (4.f * d1 + d5) - 5.f * d3;
}
// y[k*ys] = (A^T x)[k], k < 4.
inline void at4(const v16* x, int xs, v16* y, int ys) {
  const v16 s12 = x[xs] + x[2 * xs], d12 = x[xs] - x[2 * xs];
  const v16 s34 = x[3 * xs] + x[4 * xs], d34 = x[3 * xs] - x[4 * xs];
  y[0] = x[0] + s12 + s34;
  y[ys] = d12 + 2.f * d34;
  y[2 * ys] = s12 + 4.f * s34;
  y[3 * ys] = (d12 + 8.f * d34) + x[5 * xs];
}

// Consecutive tiles of one tile row of one image are consecutive lanes whose windows
// (and outputs) sit side by side, M columns apart. A block's lanes split into such runs;
// the transforms move data per run with contiguous row copies, and (de)interleave the
// M columns of each lane with vectorisable stride-M loops, instead of per-lane gathers
// and scatters (which cost 3x the transform arithmetic).
struct Run {
  int first, count;  // lanes [first, first + count)
  int64_t n, row0, col0;  // image, and the first tile's origin (window or output)
};

// The runs of a block; origins offset by (-off_r, -off_c) (the input's padding).
template <int M>
inline int block_runs(const TileGeometry& g, int64_t off_r, int64_t off_c, Run* runs) {
  const int64_t tiles_per_image = g.TH * g.TW;
  int nruns = 0;
  for (int64_t tile = g.tile_begin; tile < g.tile_end && tile < g.tile_begin + L;) {
    const int64_t n = tile / tiles_per_image, r = tile % tiles_per_image;
    const int64_t tr = r / g.TW, tc = r % g.TW;
    const int count = static_cast<int>(std::min<int64_t>({g.TW - tc, g.tile_end - tile, g.tile_begin + L - tile}));
    runs[nruns++] = Run{static_cast<int>(tile - g.tile_begin), count, n, tr * M - off_r, tc * M - off_c};
    tile += count;
  }
  return nruns;
}

// dst[k] = row[col0 + k] for k < len, zero outside [0, W) (or when the row is outside).
inline void copy_row_padded(const float* row, int64_t W, int64_t col0, int64_t len, float* dst) {
  if (!row) {
    for (int64_t k = 0; k < len; ++k) dst[k] = 0.f;
    return;
  }
  if (col0 >= 0 && col0 + len <= W) {
    std::memcpy(dst, row + col0, sizeof(float) * len);
    return;
  }
  for (int64_t k = 0; k < len; ++k) {
    const int64_t c = col0 + k;
    dst[k] = (c >= 0 && c < W) ? row[c] : 0.f;
  }
}

// dst[j][l] = src[l*M + j] for j < J (J <= M), 32 lanes: one window row's columns,
// lane-major to column-major.
template <int M, int J>
inline void deinterleave(const float* src, float (*dst)[L]) {
#ifdef __AVX512F__
  if constexpr (M == 2 || M == 4) {
    for (int h = 0; h < L / 16; ++h) {
      const float* b = src + 16 * h * M;
      const __m512 z0 = _mm512_loadu_ps(b), z1 = _mm512_loadu_ps(b + 16);
      for (int j = 0; j < J; ++j) {
        if constexpr (M == 2) {
          const __m512i idx = _mm512_add_epi32(_mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0),
                                               _mm512_set1_epi32(j));
          _mm512_store_ps(dst[j] + 16 * h, _mm512_permutex2var_ps(z0, idx, z1));
        } else {
          const __m512 z2 = _mm512_loadu_ps(b + 32), z3 = _mm512_loadu_ps(b + 48);
          const __m512i idx = _mm512_add_epi32(_mm512_set_epi32(28, 24, 20, 16, 12, 8, 4, 0, 28, 24, 20, 16, 12, 8, 4, 0),
                                               _mm512_set1_epi32(j));
          const __m512 p = _mm512_permutex2var_ps(z0, idx, z1), q = _mm512_permutex2var_ps(z2, idx, z3);
          _mm512_store_ps(dst[j] + 16 * h, _mm512_shuffle_f32x4(p, q, _MM_SHUFFLE(1, 0, 1, 0)));
        }
      }
    }
    return;
  }
#endif
#pragma GCC unroll 8
  for (int j = 0; j < J; ++j)
    for (int l = 0; l < L; ++l) dst[j][l] = src[l * M + j];
}

// dst[l*M + j] = src[j][l] + add for j < M, 32 lanes: one output row's pixels.
template <int M>
inline void interleave(const float (*src)[L], float add, float* dst) {
#ifdef __AVX512F__
  if constexpr (M == 2 || M == 4) {
    const __m512 b = _mm512_set1_ps(add);
    const __m512i lo = _mm512_set_epi32(23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    const __m512i hi = _mm512_add_epi32(lo, _mm512_set1_epi32(8));
    for (int h = 0; h < L / 16; ++h) {
      float* o = dst + 16 * h * M;
      const __m512 s0 = _mm512_add_ps(_mm512_load_ps(src[0] + 16 * h), b);
      const __m512 s1 = _mm512_add_ps(_mm512_load_ps(src[1] + 16 * h), b);
      if constexpr (M == 2) {
        _mm512_storeu_ps(o, _mm512_permutex2var_ps(s0, lo, s1));
        _mm512_storeu_ps(o + 16, _mm512_permutex2var_ps(s0, hi, s1));
      } else {
        const __m512 s2 = _mm512_add_ps(_mm512_load_ps(src[2] + 16 * h), b);
        const __m512 s3 = _mm512_add_ps(_mm512_load_ps(src[3] + 16 * h), b);
        // Pairs (s0, s1) and (s2, s3) interleaved, then the pairs interleaved 2 by 2.
        const __m512 a_lo = _mm512_permutex2var_ps(s0, lo, s1), a_hi = _mm512_permutex2var_ps(s0, hi, s1);
        const __m512 c_lo = _mm512_permutex2var_ps(s2, lo, s3), c_hi = _mm512_permutex2var_ps(s2, hi, s3);
        const __m512i p0 = _mm512_set_epi32(23, 22, 7, 6, 21, 20, 5, 4, 19, 18, 3, 2, 17, 16, 1, 0);
        const __m512i p1 = _mm512_add_epi32(p0, _mm512_set1_epi32(8));
        _mm512_storeu_ps(o, _mm512_permutex2var_ps(a_lo, p0, c_lo));
        _mm512_storeu_ps(o + 16, _mm512_permutex2var_ps(a_lo, p1, c_lo));
        _mm512_storeu_ps(o + 32, _mm512_permutex2var_ps(a_hi, p0, c_hi));
        _mm512_storeu_ps(o + 48, _mm512_permutex2var_ps(a_hi, p1, c_hi));
      }
    }
    return;
  }
#endif
#pragma GCC unroll 8
  for (int j = 0; j < M; ++j)
    for (int l = 0; l < L; ++l) dst[l * M + j] = src[j][l] + add;
}

// V = B^T d B of input_transform for the first H vectors of lanes (compile-time counts:
// the loops unroll and the copies are fixed-size moves).
template <int M, int H>
inline void transform_and_store(float (*d)[M + 2][L], float (*t)[M + 2][L], float* v, int64_t xi_stride) {
  constexpr int A = M + 2;
  if constexpr (M == 4) {
    const v16* dv = reinterpret_cast<const v16*>(d);
    v16* tv = reinterpret_cast<v16*>(t);
    for (int j = 0; j < A; ++j)
      for (int h = 0; h < H; ++h) bt4(dv + j * NVL + h, A * NVL, tv + j * NVL + h, A * NVL);
    v16* ov = reinterpret_cast<v16*>(d);
    for (int i = 0; i < A; ++i)
      for (int h = 0; h < H; ++h) bt4(tv + i * A * NVL + h, NVL, ov + i * A * NVL + h, NVL);
  } else {
    apply_left<A, A, A>(Matrices<M>::BT, d, t);
    apply_right<A, A, A>(Matrices<M>::BT, t, d);
  }
  for (int i = 0; i < A; ++i)
    for (int j = 0; j < A; ++j) std::memcpy(v + (i * A + j) * xi_stride, d[i][j], sizeof(float) * 16 * H);
}

template <int M>
void input_transform(const InputTransformArgs& a) {
  constexpr int A = M + 2;
  alignas(64) float d[A][A][L];
  alignas(64) float t[A][A][L];
  // One window row of the block: lane l's M columns at buf[l*M ..], and the 2 columns
  // past them (its halo) at buf[(l+1)*M ..] -- the next lane's, except at a run's end.
  alignas(64) float buf[(L + 1) * M + 16];
  Run runs[L];
  const TileGeometry& g = a.tiles;
  const int nruns = block_runs<M>(g, g.pad_top, g.pad_left, runs);
  const int used = nruns ? runs[nruns - 1].first + runs[nruns - 1].count : 0;
  bool one_tile_runs = nruns > 0;
  for (int q = 0; q < nruns; ++q) one_tile_runs &= runs[q].count == 1;
  // Every run one tile (an image one tile wide: DCGAN's 4x4 inputs at F(4x4)): each lane's
  // window is read straight into d. Through the row buffers each lane cost two padded
  // copies and a halo per window row, and the input transforms were 7% of a DCGAN
  // 512->256 training step.
  for (int i = 0; one_tile_runs && i < A; ++i)
    for (int j = 0; j < A; ++j)
      for (int l = 0; l < L; ++l) d[i][j][l] = 0.f;
  for (int q = 0; one_tile_runs && q < nruns; ++q) {
    const Run& r = runs[q];
    const float* image = a.x + r.n * a.image_stride;
    for (int i = 0; i < A; ++i) {
      const int64_t ih = r.row0 + i;
      if (ih < 0 || ih >= a.H) continue;
      for (int j = 0; j < A; ++j) {
        const int64_t iw = r.col0 + j;
        if (iw >= 0 && iw < a.W) d[i][j][r.first] = image[ih * a.W + iw];
      }
    }
  }
  for (int i = 0; !one_tile_runs && i < A; ++i) {
    float halo[L][2];  // the halo of each run's last lane
    for (int q = 0; q < nruns; ++q) {
      const Run& r = runs[q];
      const int64_t ih = r.row0 + i;
      const float* row = (ih >= 0 && ih < a.H) ? a.x + r.n * a.image_stride + ih * a.W : nullptr;
      copy_row_padded(row, a.W, r.col0, int64_t(r.count) * M, buf + r.first * M);
      copy_row_padded(row, a.W, r.col0 + int64_t(r.count) * M, 2, halo[q]);
    }
    for (int k = used * M; k < (L + 1) * M + 16; ++k) buf[k] = 0.f;
    deinterleave<M, M>(buf, d[i]);
    deinterleave<M, 2>(buf + M, d[i] + M);
    for (int q = 0; q < nruns; ++q) {
      const int last = runs[q].first + runs[q].count - 1;
      d[i][M][last] = halo[q][0];
      d[i][M + 1][last] = halo[q][1];
    }
  }
  // V = B^T d B, columns first then rows. A block of at most 16 tiles fills the first
  // vector of lanes only; its GEMM (wgemm_half) reads no other, so the rest is left as is.
  if (used <= 16)
    transform_and_store<M, 1>(d, t, a.v, a.xi_stride);
  else
    transform_and_store<M, NVL>(d, t, a.v, a.xi_stride);
}

template <Activation ACT>
inline void store_row(float* y, const float* res, const float* src, int64_t len) {
  for (int64_t k = 0; k < len; ++k) {
    float v = src[k];
    if (res) v += res[k];
    // NaN fails every comparison, so these keep it (as PyTorch).
    if (ACT == Activation::relu) v = v < 0.f ? 0.f : v;
    if (ACT == Activation::relu6) v = v < 0.f ? 0.f : (v > 6.f ? 6.f : v);
    y[k] = v;
  }
}

template <int M>
void output_transform(const OutputTransformArgs& a) {
  constexpr int A = M + 2;
  alignas(64) float mm[A][A][L];
  alignas(64) float t[M][A][L];
  alignas(64) float out[M][M][L];
  alignas(64) float buf[L * M];  // one output row of the block: lane l's M pixels at buf[l*M ..]
  for (int i = 0; i < A; ++i)
    for (int j = 0; j < A; ++j) std::memcpy(mm[i][j], a.m + (i * A + j) * a.xi_stride, sizeof(float) * L);
  // Y = A^T M A
  if constexpr (M == 4) {
    const v16* mv = reinterpret_cast<const v16*>(mm);
    v16* tv = reinterpret_cast<v16*>(t);
    for (int j = 0; j < A; ++j)
      for (int h = 0; h < NVL; ++h) at4(mv + j * NVL + h, A * NVL, tv + j * NVL + h, A * NVL);
    v16* ov = reinterpret_cast<v16*>(out);
    for (int i = 0; i < M; ++i)
      for (int h = 0; h < NVL; ++h) at4(tv + i * A * NVL + h, NVL, ov + i * M * NVL + h, NVL);
  } else {
    apply_left<M, A, A>(Matrices<M>::AT, mm, t);
    apply_right<M, M, A>(Matrices<M>::AT, t, out);
  }
  Run runs[L];
  const int nruns = block_runs<M>(a.tiles, 0, 0, runs);
  // Without a residual the after-store activation runs on the whole interleaved row (L * M
  // floats: full vectors, one call) before it is stored; with one, on each stored run.
  const bool act_on_buf = a.after_store && !a.residual;
  for (int i = 0; i < M; ++i) {
    interleave<M>(out[i], a.bias, buf);
    if (act_on_buf) a.after_store(buf, buf, L * M, a.after_store_param);
    for (int q = 0; q < nruns; ++q) {
      const Run& r = runs[q];
      const int64_t oh = r.row0 + i;
      if (oh >= a.OH) continue;
      const int64_t len = std::min<int64_t>(int64_t(r.count) * M, a.OW - r.col0);
      const int64_t offset = r.n * a.image_stride + oh * a.OW + r.col0;
      const float* res = a.residual ? a.residual + offset : nullptr;
      const float* src = buf + r.first * M;
      switch (a.activation) {
        case Activation::relu: store_row<Activation::relu>(a.y + offset, res, src, len); break;
        case Activation::relu6: store_row<Activation::relu6>(a.y + offset, res, src, len); break;
        default: store_row<Activation::none>(a.y + offset, res, src, len); break;
      }
      if (a.after_store && !act_on_buf) a.after_store(a.y + offset, a.y + offset, len, a.after_store_param);
    }
  }
}

#ifdef __AVX512F__
// Splitting 16 filters of 9 taps (144 consecutive floats, 9 vectors) tap-major with
// permutes, as two stride-3 splits (tap t = 3r + s: by s, then by r), each output
// vector from 3 inputs in 2 permutes. (A gather per tap costs ~28 cycles here.)
struct TapSplit {
  __m512i first[3], second[3];  // per phase: lanes from inputs (0, 1), then from input 2
  TapSplit() {
    for (int ph = 0; ph < 3; ++ph) {
      alignas(64) int32_t i1[16], i2[16];
      for (int l = 0; l < 16; ++l) {
        const int pos = 3 * l + ph;  // in the 48 floats of the three inputs
        i1[l] = pos < 32 ? pos : 0;
        i2[l] = pos < 32 ? l : 16 + (pos - 32);
      }
      first[ph] = _mm512_load_si512(i1);
      second[ph] = _mm512_load_si512(i2);
    }
  }
  // out[l] = (x0 | x1 | x2)[3l + ph]
  __m512 split3(__m512 x0, __m512 x1, __m512 x2, int ph) const {
    return _mm512_permutex2var_ps(_mm512_permutex2var_ps(x0, first[ph], x1), second[ph], x2);
  }
  void split(const float* src, v16* g) const {
    __m512 z[9], a[3][3];
    for (int k = 0; k < 9; ++k) z[k] = _mm512_loadu_ps(src + 16 * k);
    for (int s = 0; s < 3; ++s)
      for (int v = 0; v < 3; ++v) a[s][v] = split3(z[3 * v], z[3 * v + 1], z[3 * v + 2], s);
    for (int r = 0; r < 3; ++r)
      for (int s = 0; s < 3; ++s) g[3 * r + s] = split3(a[s][0], a[s][1], a[s][2], r);
  }
};
#endif

// U = G f G^T for the filters of one packed row block, 16 input channels at a time (the
// vector lanes). Filter (kr, c) is w[kr * k_stride + c*9 .. +9] (OIHW order) for kr < rows;
// rows..11 and channels C..ceil16(C)-1 get zero filters. Output in the packed layout
// u[xi * xi_stride + (c/16)*192 + kr*16 + c%16].
template <int M>
void filter_transform(const float* w, int64_t k_stride, int rows, int64_t C, float* u, int64_t xi_stride) {
  constexpr int A = M + 2, CB = kChannelBlock;
  static_assert(CB == 16, "one v16 per panel row");
#ifdef __AVX512F__
  static const TapSplit split;
#endif
  for (int kr = 0; kr < kRowBlock; ++kr) {
    for (int64_t c0 = 0; c0 < C; c0 += CB) {
      v16 g[9];  // g[r*3 + s]: tap (r, s) of the 16 filters
      const float* src = w + kr * k_stride + c0 * 9;
      if (kr < rows && c0 + CB <= C) {
        // 16 filters of 9 taps are 144 consecutive floats: split them tap-major (GCC
        // would build each vector from 16 scalar inserts).
#ifdef __AVX512F__
        split.split(src, g);
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

// The transform-domain GEMM. MR rows of M live in MR*NV registers of the ISA's own
// vector width (VW lanes: a 64-byte GCC vector on AVX2 would be split through the stack,
// 30x slower) while the C loop streams V once; U is read as broadcasts. NV = 32/VW for a
// full block of 32 tiles, 16/VW for a half block.
#if defined(__AVX512F__)
typedef float vg __attribute__((vector_size(64)));
typedef float vgu __attribute__((vector_size(64), aligned(4)));
#elif defined(__AVX__)
typedef float vg __attribute__((vector_size(32)));
typedef float vgu __attribute__((vector_size(32), aligned(4)));
#else
typedef float vg __attribute__((vector_size(16)));
typedef float vgu __attribute__((vector_size(16), aligned(4)));
#endif
constexpr int VW = sizeof(vg) / sizeof(float);

constexpr int kVectorRegisters = VW == 16 ? 32 : 16;

// One step of the C loop: acc[r][:] += v_c[:] * u_c[r * u_row]. Each U value is
// broadcast once when the V row fits in registers beside the accumulators (AVX2 has no
// broadcast operand in its FMA), else V is loaded one vector at a time.
template <int MR, int NV>
inline void gemm_step(vg (&acc)[MR][NV], const float* vc, const float* uc, int u_row) {
  if constexpr (MR * NV + NV + 1 <= kVectorRegisters) {
    vg b[NV];
    for (int j = 0; j < NV; ++j) b[j] = *reinterpret_cast<const vgu*>(vc + VW * j);
    for (int r = 0; r < MR; ++r) {
      const float ur = uc[r * u_row];
      for (int j = 0; j < NV; ++j) acc[r][j] += b[j] * ur;
    }
  } else {
    for (int j = 0; j < NV; ++j) {
      const vg b = *reinterpret_cast<const vgu*>(vc + VW * j);
      for (int r = 0; r < MR; ++r) acc[r][j] += b * uc[r * u_row];
    }
  }
}

template <int MR, int NV>
inline void store_rows(const vg (&acc)[MR][NV], float* m) {
  for (int r = 0; r < MR; ++r)
    for (int j = 0; j < NV; ++j) *reinterpret_cast<vgu*>(m + r * L + VW * j) = acc[r][j];
}

// The tiled FFT's GEMM: U packed [C][12].
template <int MR, int NV>
inline void gemm_rows(const float* u, const float* v, float* m, int64_t C) {
  vg acc[MR][NV] = {};
  for (int64_t c = 0; c < C; ++c) gemm_step<MR, NV>(acc, v + c * L, u + c * kRowBlock, 1);
  store_rows<MR, NV>(acc, m);
}

// Winograd's GEMM: U packed [ceil(C/16)][12][16] (see filter_transform), so the filter
// transform writes whole vectors; the 16 channels of a block unroll with constant offsets.
// Over the channel ranges seg[2s] .. seg[2s + 1] (starts multiples of 16).
template <int MR, int NV>
inline void wgemm_rows_seg(const float* u, const float* v, float* m, const int64_t* seg, int nseg) {
  constexpr int CB = kChannelBlock;
  vg acc[MR][NV] = {};
  for (int s = 0; s < nseg; ++s) {
    int64_t c = seg[2 * s];
    const int64_t end = seg[2 * s + 1];
    for (; c + CB <= end; c += CB) {
      const float* ub = u + c * kRowBlock;
#pragma GCC unroll 16
      for (int ci = 0; ci < CB; ++ci) gemm_step<MR, NV>(acc, v + (c + ci) * L, ub + ci, CB);
    }
    const float* ub = u + c * kRowBlock;
    for (int ci = 0; c + ci < end; ++ci) gemm_step<MR, NV>(acc, v + (c + ci) * L, ub + ci, CB);
  }
  store_rows<MR, NV>(acc, m);
}

// wgemm_rows_seg over all C channels.
template <int MR, int NV>
inline void wgemm_rows(const float* u, const float* v, float* m, int64_t C) {
  const int64_t all[2] = {0, C};
  wgemm_rows_seg<MR, NV>(u, v, m, all, 1);
}

// The last rows (fewer than MR) of a row block in one pass over V: the row ranges of the
// sub-pixel forward (winograd_gather.h) give 3 and 6 rows, which in 4s and 1s read V up to
// four times. Each row's sums are the same whatever the grouping.
template <int MR, typename Run>
inline void run_remainder(Run& run, int r, int rem) {
  if constexpr (MR > 1) {
    if (rem == MR - 1) {
      run(std::integral_constant<int, MR - 1>{}, r);
      return;
    }
    run_remainder<MR - 1>(run, r, rem);
  }
}

// Rows in registers: WINOGRAD_GEMM_MR for full blocks, twice that (at most one packed
// row block) for half blocks, which need half the accumulators per row. run(rows_tag, r)
// computes rows r .. r + rows_tag: MR at a time, then the rest in one pass.
template <int NV, typename Run>
inline void for_row_groups(int rows, Run&& run) {
  constexpr int MR = NV == 32 / VW ? WINOGRAD_GEMM_MR
                                   : (2 * WINOGRAD_GEMM_MR > kRowBlock ? kRowBlock : 2 * WINOGRAD_GEMM_MR);
  int r = 0;
  for (; r + MR <= rows; r += MR) run(std::integral_constant<int, MR>{}, r);
  run_remainder<MR>(run, r, rows - r);
}

// u_row: floats between U rows (1 for the FFT's packing, 16 for Winograd's).
template <int NV, bool WINO>
inline void gemm_lanes(const float* u, const float* v, float* m, int64_t C, int rows) {
  constexpr int u_row = WINO ? kChannelBlock : 1;
  for_row_groups<NV>(rows, [&](auto rows_tag, int r) {
    constexpr int R = decltype(rows_tag)::value;
    if constexpr (WINO)
      wgemm_rows<R, NV>(u + r * u_row, v, m + r * L, C);
    else
      gemm_rows<R, NV>(u + r * u_row, v, m + r * L, C);
  });
}

template <int NV>
inline void gemm_lanes_seg(const float* u, const float* v, float* m, const int64_t* seg, int nseg, int rows) {
  for_row_groups<NV>(rows, [&](auto rows_tag, int r) {
    constexpr int R = decltype(rows_tag)::value;
    wgemm_rows_seg<R, NV>(u + r * kChannelBlock, v, m + r * L, seg, nseg);
  });
}

inline void wgemm_seg(const float* u, const float* v, float* m, const int64_t* seg, int nseg, int rows) {
  gemm_lanes_seg<32 / VW>(u, v, m, seg, nseg, rows);
}
inline void wgemm_half_seg(const float* u, const float* v, float* m, const int64_t* seg, int nseg, int rows) {
  gemm_lanes_seg<16 / VW>(u, v, m, seg, nseg, rows);
}

inline void gemm(const float* u, const float* v, float* m, int64_t C, int rows) {
  gemm_lanes<32 / VW, false>(u, v, m, C, rows);
}
inline void wgemm(const float* u, const float* v, float* m, int64_t C, int rows) {
  gemm_lanes<32 / VW, true>(u, v, m, C, rows);
}
inline void wgemm_half(const float* u, const float* v, float* m, int64_t C, int rows) {
  gemm_lanes<16 / VW, true>(u, v, m, C, rows);
}

template <int M>
constexpr Kernels make_kernels() {
  return Kernels{&input_transform<M>, &output_transform<M>, &gemm,     &wgemm, &wgemm_half, &filter_transform<M>,
                 &wgemm_seg,         &wgemm_half_seg};
}

inline const Kernels& table(int m) {
  static const Kernels k2 = make_kernels<2>(), k4 = make_kernels<4>(), k6 = make_kernels<6>();
  return m == 2 ? k2 : m == 4 ? k4 : k6;
}

}  // namespace WINOGRAD_ISA_NS
}  // namespace winograd
}  // namespace cnnnative
