// Grid planning for implicit_gemm_kernel (see implicit_gemm.cuh).
#include "cnnnative/errors.h"
#include "implicit_gemm.cuh"

namespace cnnnative {
namespace cuda {

GemmGrid plan_gemm_grid(int64_t M, int64_t N, int64_t K, int64_t groups, bool allow_split) {
  GemmGrid plan;
  const int64_t tiles_n = (N + kTileN - 1) / kTileN;
  const int64_t tiles_m = (M + kTileM - 1) / kTileM;
  const int64_t k_tiles = K > 0 ? (K + kTileK - 1) / kTileK : 1;
  int64_t splits = 1;
  if (allow_split) {
    const int64_t target_blocks = 2048;
    const int64_t blocks = tiles_n * tiles_m * groups;
    if (blocks < target_blocks) splits = (target_blocks + blocks - 1) / blocks;
    // Each chunk keeps at least 8 K tiles of work.
    const int64_t max_splits = (k_tiles + 7) / 8;
    if (splits > max_splits) splits = max_splits;
    if (splits < 1) splits = 1;
    if (splits > kMaxGridYZ) splits = kMaxGridYZ;  // launch_implicit_gemm puts >= 1 group per launch
  }
  const int64_t tiles_per_chunk = (k_tiles + splits - 1) / splits;
  plan.k_chunk = tiles_per_chunk * kTileK;
  plan.splits = static_cast<int>((k_tiles + tiles_per_chunk - 1) / tiles_per_chunk);
  CN_CHECK(tiles_n <= 2147483647LL, "CUDA GEMM: N = ", N, " needs ", tiles_n,
           " column tiles, more than a grid holds");
  // Row tiles and groups beyond gridDim.y/z's 65535 are cut into launches (launch_implicit_gemm).
  plan.tiles_n = tiles_n;
  plan.tiles_m = tiles_m;
  plan.groups = groups;
  return plan;
}

}  // namespace cuda
}  // namespace cnnnative
