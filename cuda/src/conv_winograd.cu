// Winograd convolution F(m x m, 3 x 3), m = 2 or 4, for 3x3 kernels with stride 1,
// dilation 1 and groups 1 (any padding). With alpha = m + 2:
//   U[xi][k][c] = (G g_kc G^T)[xi]                 weight transform   (alpha^2 x K x C)
//   V[xi][c][t] = (B^T d_ct B)[xi]                 input transform    (alpha^2 x C x T)
//   M[xi]       = U[xi] V[xi]                      alpha^2 GEMMs (implicit_gemm.cuh, xi as the group)
//   y tile      = A^T M_kt A (+ bias)              output transform, m x m outputs per tile
// where t runs over the N * ceil(OH/m) * ceil(OW/m) output tiles and d_ct is the alpha x
// alpha input patch of tile t (zero outside the image). The matrices are Lavin & Gray's
// (interpolation points 0, +-1, +-2), checked against direct convolution in the tests.
// F(4x4) does 4x fewer multiplications than direct but rounds more: its tolerance is
// looser (see tests/test_cuda_ops.py).
#include <cuda_runtime.h>

#include "check.h"
#include "cnnnative/errors.h"
#include "implicit_gemm.cuh"
#include "kernels.h"

namespace cnnnative {
namespace cuda {

namespace {

__constant__ float kBT2[4][4] = {{1, 0, -1, 0}, {0, 1, 1, 0}, {0, -1, 1, 0}, {0, 1, 0, -1}};
__constant__ float kG2[4][3] = {{1, 0, 0}, {0.5f, 0.5f, 0.5f}, {0.5f, -0.5f, 0.5f}, {0, 0, 1}};
__constant__ float kAT2[2][4] = {{1, 1, 1, 0}, {0, 1, -1, -1}};

__constant__ float kBT4[6][6] = {{4, 0, -5, 0, 1, 0},  {0, -4, -4, 1, 1, 0}, {0, 4, -4, -1, 1, 0},
                                 {0, -2, -1, 2, 1, 0}, {0, 2, -1, -2, 1, 0}, {0, 4, 0, -5, 0, 1}};
__constant__ float kG4[6][3] = {{0.25f, 0, 0},
                                {-1.0f / 6, -1.0f / 6, -1.0f / 6},
                                {-1.0f / 6, 1.0f / 6, -1.0f / 6},
                                {1.0f / 24, 1.0f / 12, 1.0f / 6},
                                {1.0f / 24, -1.0f / 12, 1.0f / 6},
                                {0, 0, 1}};
__constant__ float kAT4[4][6] = {{1, 1, 1, 1, 1, 0}, {0, 1, -1, 2, -2, 0}, {0, 1, 1, 4, 4, 0}, {0, 1, -1, 8, -8, 1}};

template <int M>
struct Wino {
  static constexpr int A = M + 2;  // tile side (alpha)
  __device__ static float bt(int i, int j) { return M == 2 ? kBT2[i][j] : kBT4[i][j]; }
  __device__ static float g(int i, int j) { return M == 2 ? kG2[i][j] : kG4[i][j]; }
  __device__ static float at(int i, int j) { return M == 2 ? kAT2[i][j] : kAT4[i][j]; }
};

struct WinoShape {
  int64_t N, C, H, W, K, OH, OW, pt, pl, TH, TW, T;
};

#define CNC_GRID_STRIDE(i, total)                                                       \
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < (total); \
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)

template <int M>
__global__ void weight_transform_kernel(const float* __restrict__ w, float* __restrict__ U, int64_t K, int64_t C) {
  constexpr int A = Wino<M>::A;
  CNC_GRID_STRIDE(kc, K * C) {
    const float* g = w + kc * 9;  // w[k][c][3][3], kc = k * C + c
    float tmp[A][3];              // G g
    for (int i = 0; i < A; ++i)
      for (int j = 0; j < 3; ++j) {
        float s = 0.0f;
        for (int q = 0; q < 3; ++q) s += Wino<M>::g(i, q) * g[q * 3 + j];
        tmp[i][j] = s;
      }
    for (int i = 0; i < A; ++i)
      for (int j = 0; j < A; ++j) {
        float s = 0.0f;
        for (int q = 0; q < 3; ++q) s += tmp[i][q] * Wino<M>::g(j, q);
        U[(static_cast<int64_t>(i * A + j) * K * C) + kc] = s;  // [xi][k][c]
      }
  }
}

template <int M>
__global__ void input_transform_kernel(const float* __restrict__ x, float* __restrict__ V, WinoShape s) {
  constexpr int A = Wino<M>::A;
  CNC_GRID_STRIDE(ct, s.C * s.T) {
    const int64_t c = ct / s.T, t = ct % s.T;
    const int64_t n = t / (s.TH * s.TW), tile = t % (s.TH * s.TW);
    const int64_t h0 = (tile / s.TW) * M - s.pt, w0 = (tile % s.TW) * M - s.pl;
    const float* plane = x + (n * s.C + c) * s.H * s.W;
    float d[A][A];
    for (int i = 0; i < A; ++i)
      for (int j = 0; j < A; ++j) {
        const int64_t h = h0 + i, w = w0 + j;
        d[i][j] = (h >= 0 && h < s.H && w >= 0 && w < s.W) ? plane[h * s.W + w] : 0.0f;
      }
    float tmp[A][A];  // B^T d
    for (int i = 0; i < A; ++i)
      for (int j = 0; j < A; ++j) {
        float acc = 0.0f;
        for (int q = 0; q < A; ++q) acc += Wino<M>::bt(i, q) * d[q][j];
        tmp[i][j] = acc;
      }
    for (int i = 0; i < A; ++i)
      for (int j = 0; j < A; ++j) {
        float acc = 0.0f;
        for (int q = 0; q < A; ++q) acc += tmp[i][q] * Wino<M>::bt(j, q);
        V[static_cast<int64_t>(i * A + j) * s.C * s.T + ct] = acc;  // [xi][c][t], ct = c * T + t
      }
  }
}

template <int M>
__global__ void output_transform_kernel(const float* __restrict__ Mx, const float* __restrict__ bias,
                                        float* __restrict__ y, WinoShape s) {
  constexpr int A = Wino<M>::A;
  CNC_GRID_STRIDE(kt, s.K * s.T) {
    const int64_t k = kt / s.T, t = kt % s.T;
    const int64_t n = t / (s.TH * s.TW), tile = t % (s.TH * s.TW);
    const int64_t oh0 = (tile / s.TW) * M, ow0 = (tile % s.TW) * M;
    float m[A][A];
    for (int i = 0; i < A; ++i)
      for (int j = 0; j < A; ++j) m[i][j] = Mx[static_cast<int64_t>(i * A + j) * s.K * s.T + kt];
    float tmp[M][A];  // A^T m
    for (int i = 0; i < M; ++i)
      for (int j = 0; j < A; ++j) {
        float acc = 0.0f;
        for (int q = 0; q < A; ++q) acc += Wino<M>::at(i, q) * m[q][j];
        tmp[i][j] = acc;
      }
    const float b = bias ? bias[k] : 0.0f;
    float* out = y + (n * s.K + k) * s.OH * s.OW;
    for (int i = 0; i < M; ++i)
      for (int j = 0; j < M; ++j) {
        const int64_t oh = oh0 + i, ow = ow0 + j;
        if (oh >= s.OH || ow >= s.OW) continue;
        float acc = b;
        for (int q = 0; q < A; ++q) acc += tmp[i][q] * Wino<M>::at(j, q);
        out[oh * s.OW + ow] = acc;
      }
  }
}

// The GEMM operands: U[xi] is K x C (row-major), V[xi] is C x T, M[xi] is K x T.
struct BatchedRows {
  const float* base;
  int64_t rows, cols;
  __device__ float operator()(int64_t xi, int64_t r, int64_t c) const { return base[(xi * rows + r) * cols + c]; }
  __device__ float4 a4(int64_t xi, int64_t r, int64_t c) const {
    return *reinterpret_cast<const float4*>(base + (xi * rows + r) * cols + c);
  }
};

struct StoreBatched {
  float* base;
  int64_t rows, cols;
  __device__ void operator()(int64_t xi, int64_t r, int64_t c, float v) const { base[(xi * rows + r) * cols + c] = v; }
};

template <int M>
void winograd(const ConvParams& p, const float* x, const float* w, const float* bias, float* y, float* workspace) {
  constexpr int A = M + 2;
  WinoShape s;
  s.N = p.N; s.C = p.C; s.H = p.H; s.W = p.W; s.K = p.K;
  s.OH = p.output_h(); s.OW = p.output_w();
  s.pt = p.pad_top; s.pl = p.pad_left;
  s.TH = (s.OH + M - 1) / M; s.TW = (s.OW + M - 1) / M;
  s.T = s.N * s.TH * s.TW;
  if (s.T == 0 || s.K == 0) return;
  float* U = workspace;
  float* V = U + int64_t(A) * A * s.K * s.C;
  float* Mx = V + int64_t(A) * A * s.C * s.T;
  weight_transform_kernel<M><<<blocks_for(s.K * s.C, 128), 128>>>(w, U, s.K, s.C);
  check_launch("winograd weight transform");
  input_transform_kernel<M><<<blocks_for(s.C * s.T, 128), 128>>>(x, V, s);
  check_launch("winograd input transform");
  const GemmGrid plan = plan_gemm_grid(s.K, s.T, s.C, A * A, /*allow_split=*/false);
  BatchedRows a{U, s.K, s.C}, b{V, s.C, s.T};
  StoreBatched store{Mx, s.K, s.T};
  // B(xi, c, t) reads V[xi][c][t]: the loader's (row, col) are (c, t).
  if (s.C % 4 == 0)
    launch_implicit_gemm<true>(plan, s.K, s.T, s.C, a, b, store, "winograd batched GEMM");
  else
    launch_implicit_gemm<false>(plan, s.K, s.T, s.C, a, b, store, "winograd batched GEMM");
  output_transform_kernel<M><<<blocks_for(s.K * s.T, 128), 128>>>(Mx, bias, y, s);
  check_launch("winograd output transform");
}

}  // namespace

bool winograd_supported(const ConvParams& p) {
  return p.R == 3 && p.S == 3 && p.stride_h == 1 && p.stride_w == 1 && p.dilation_h == 1 && p.dilation_w == 1 &&
         p.groups == 1;
}

int64_t winograd_workspace_floats(const ConvParams& p, int m) {
  const int64_t a2 = int64_t(m + 2) * (m + 2);
  const int64_t TH = (p.output_h() + m - 1) / m, TW = (p.output_w() + m - 1) / m;
  const int64_t T = checked_mul(checked_mul(p.N, TH, "winograd tiles"), TW, "winograd tiles");
  int64_t total = checked_mul(a2, checked_mul(p.K, p.C, "winograd weights"), "winograd workspace");
  total = checked_add(total, checked_mul(a2, checked_mul(p.C, T, "winograd input"), "winograd workspace"));
  total = checked_add(total, checked_mul(a2, checked_mul(p.K, T, "winograd output"), "winograd workspace"));
  return total;
}

void conv2d_winograd_forward(const ConvParams& p, int m, const float* x, const float* w, const float* bias, float* y,
                             float* workspace) {
  CN_CHECK(winograd_supported(p), "winograd needs a 3x3 kernel, stride 1, dilation 1, groups 1: ", p.to_string());
  CN_CHECK(m == 2 || m == 4, "winograd tile must be 2 or 4, got ", m);
  if (m == 2)
    winograd<2>(p, x, w, bias, y, workspace);
  else
    winograd<4>(p, x, w, bias, y, workspace);
}

}  // namespace cuda
}  // namespace cnnnative
