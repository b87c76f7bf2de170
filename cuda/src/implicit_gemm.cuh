// A shared-memory tiled GEMM whose operands are read through functors, so the same kernel
// computes a plain SGEMM and all three convolution passes without materialising im2col.
//
//   C(g, m, n) = sum_k A(g, m, k) * B(g, k, n),  m < M, n < N, k < K, g < groups
//
// A block computes a 64 x 64 tile of C with 256 threads, 4 x 4 results per thread, walking
// K in steps of 16 through shared memory. Loaders return 0 outside the matrix (and outside
// the padded image), so no tile is special. The A tile is read with k fastest and the B
// tile with n fastest: for convolution those are the contiguous directions of the weights
// and of the image rows. When Vec4A is set the loader also provides a4(g, m, k) returning
// four consecutive k (caller guarantees 16-byte alignment and K % 4 == 0) and A is read
// with float4 loads.
//
// blockIdx.z = (g - g_base) * splits + split: split-K divides K into `splits` chunks whose
// partial sums the Store functor adds atomically (the output is zeroed first); with
// splits == 1 Store writes. gridDim.y and gridDim.z are limited to 65535, so
// launch_implicit_gemm cuts larger problems (more than 65535 row tiles, or groups * splits
// above 65535) into several launches, each told its first row (m_base) and group (g_base).
// All index arithmetic is int64.
#pragma once
#include <algorithm>
#include <cstdint>

#include "check.h"

namespace cnnnative {
namespace cuda {

constexpr int kTileM = 64, kTileN = 64, kTileK = 16, kGemmThreads = 256;

template <bool Vec4A, class ALoad, class BLoad, class Store>
__global__ void __launch_bounds__(kGemmThreads)
    implicit_gemm_kernel(int64_t M, int64_t N, int64_t K, int splits, int64_t k_chunk, int64_t m_base,
                         int64_t g_base, ALoad a, BLoad b, Store store) {
  __shared__ float As[kTileK][kTileM + 4];  // +4: rows written with k fastest do not collide
  __shared__ float Bs[kTileK][kTileN];
  const int tid = threadIdx.x;
  const int tx = tid % 16, ty = tid / 16;
  const int64_t n0 = static_cast<int64_t>(blockIdx.x) * kTileN;
  const int64_t m0 = m_base + static_cast<int64_t>(blockIdx.y) * kTileM;
  const int64_t g = g_base + blockIdx.z / splits;
  const int64_t split = blockIdx.z % splits;
  const int64_t k_begin = split * k_chunk;
  const int64_t k_end = k_begin + k_chunk < K ? k_begin + k_chunk : K;

  float acc[4][4];
#pragma unroll
  for (int i = 0; i < 4; ++i)
#pragma unroll
    for (int j = 0; j < 4; ++j) acc[i][j] = 0.0f;

  for (int64_t k0 = k_begin; k0 < k_end; k0 += kTileK) {
    if constexpr (Vec4A) {
      // 64 rows x 4 float4 = 256 loads, one per thread.
      const int mm = tid / 4, kk = (tid % 4) * 4;
      const int64_t m = m0 + mm, k = k0 + kk;
      float4 v = make_float4(0.f, 0.f, 0.f, 0.f);
      if (m < M && k < k_end) v = a.a4(g, m, k);  // k_end and k are multiples of 4
      As[kk + 0][mm] = v.x;
      As[kk + 1][mm] = v.y;
      As[kk + 2][mm] = v.z;
      As[kk + 3][mm] = v.w;
    } else {
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        const int e = tid + i * kGemmThreads;
        const int mm = e / kTileK, kk = e % kTileK;
        const int64_t m = m0 + mm, k = k0 + kk;
        As[kk][mm] = (m < M && k < k_end) ? a(g, m, k) : 0.0f;
      }
    }
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const int e = tid + i * kGemmThreads;
      const int kk = e / kTileN, nn = e % kTileN;
      const int64_t k = k0 + kk, n = n0 + nn;
      Bs[kk][nn] = (n < N && k < k_end) ? b(g, k, n) : 0.0f;
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < kTileK; ++kk) {
      float av[4], bv[4];
#pragma unroll
      for (int i = 0; i < 4; ++i) av[i] = As[kk][ty + 16 * i];
#pragma unroll
      for (int j = 0; j < 4; ++j) bv[j] = Bs[kk][tx + 16 * j];
#pragma unroll
      for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) acc[i][j] = fmaf(av[i], bv[j], acc[i][j]);
    }
    __syncthreads();
  }

#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const int64_t m = m0 + ty + 16 * i;
    if (m >= M) continue;
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const int64_t n = n0 + tx + 16 * j;
      if (n < N) store(g, m, n, acc[i][j]);
    }
  }
}

// Grid for an implicit GEMM: x over N tiles, y over M tiles, z over groups * splits.
struct GemmGrid {
  int64_t tiles_n = 0, tiles_m = 0, groups = 1;
  int splits = 1;
  int64_t k_chunk = 0;
};

// Chooses split-K so that small-M*N, long-K problems (weight gradients) still fill the GPU:
// about `target_blocks` blocks, each chunk a multiple of the K tile. allow_split false
// forces one chunk. Throws ValueError when N needs more column tiles than gridDim.x holds.
GemmGrid plan_gemm_grid(int64_t M, int64_t N, int64_t K, int64_t groups, bool allow_split);

constexpr int64_t kMaxGridYZ = 65535;

// Launches implicit_gemm_kernel over the whole plan on the default stream, in as many
// launches as gridDim.y/z limits need, checking each launch.
template <bool Vec4A, class ALoad, class BLoad, class Store>
void launch_implicit_gemm(const GemmGrid& plan, int64_t M, int64_t N, int64_t K, const ALoad& a, const BLoad& b,
                          const Store& store, const char* name) {
  const int64_t groups_per_launch = std::max<int64_t>(1, kMaxGridYZ / plan.splits);
  for (int64_t g0 = 0; g0 < plan.groups; g0 += groups_per_launch) {
    const int64_t gn = std::min(groups_per_launch, plan.groups - g0);
    for (int64_t t0 = 0; t0 < plan.tiles_m; t0 += kMaxGridYZ) {
      const int64_t tm = std::min(kMaxGridYZ, plan.tiles_m - t0);
      const dim3 grid(static_cast<unsigned>(plan.tiles_n), static_cast<unsigned>(tm),
                      static_cast<unsigned>(gn * plan.splits));
      implicit_gemm_kernel<Vec4A><<<grid, kGemmThreads>>>(M, N, K, plan.splits, plan.k_chunk, t0 * kTileM, g0, a,
                                                          b, store);
      check_launch(name);
    }
  }
}

}  // namespace cuda
}  // namespace cnnnative
