// AVX-512 SGEMM, 8 x 48 tile (24 zmm accumulators). 24 accumulators + 3 B vectors + 1 broadcast.
// Fits M = 64/128-row products (conv layers) and N = 48k exactly.
#include "gemm/sgemm_tile__avx512.h"

namespace cnnnative {
namespace gemm_detail {

const GemmKernelTable& gemm_table_8x48__avx512() {
  // KC rows of a 48-column B panel (192*KC bytes) stay in the 48 KiB L1 while A panels
  // stream past; the MC x KC A block stays in the 1 MiB L2; B blocks are sized in sgemm.cc.
  static const GemmKernelTable table =
      avx512_table<8, 3>("8x48__avx512", /*mc=*/8 * 40, /*kc=*/256, /*nc=*/6144);
  return table;
}

}  // namespace gemm_detail
}  // namespace cnnnative
