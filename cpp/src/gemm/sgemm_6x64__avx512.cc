// AVX-512 SGEMM, 6 x 64 tile (24 zmm accumulators). 24 accumulators + 4 B vectors + 1 broadcast.
// The fewest loads per FMA (10 per 24); best on large squares and N = 64k.
#include "gemm/sgemm_tile__avx512.h"

namespace cnnnative {
namespace gemm_detail {

const GemmKernelTable& gemm_table_6x64__avx512() {
  // KC rows of a 64-column B panel (256*KC bytes) stay in the 48 KiB L1 while A panels
  // stream past; the MC x KC A block stays in the 1 MiB L2; B blocks are sized in sgemm.cc.
  static const GemmKernelTable table =
      avx512_table<6, 4>("6x64__avx512", /*mc=*/6 * 56, /*kc=*/256, /*nc=*/8192);
  return table;
}

}  // namespace gemm_detail
}  // namespace cnnnative
