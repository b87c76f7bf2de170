// AVX-512 SGEMM, 8 x 48 tile (24 zmm accumulators). 24 accumulators + 3 B vectors + 1 broadcast.
// Fits M = 64/128-row products (conv layers) and N = 48k exactly.
#include "gemm/sgemm_tile__avx512.h"

namespace cnnnative {
namespace gemm_detail {

const GemmKernelTable& gemm_table_8x48__avx512() {
  // The KC x 48 B panel (48 KiB) is reused by every A panel of the MC block from L1/L2;
  // the MC x KC A block (320 KiB) stays in the 1 MiB L2.
  static const GemmKernelTable table =
      avx512_table<8, 3>("8x48__avx512", /*mc=*/8 * 40, /*kc=*/256, /*nc=*/6144);
  return table;
}

}  // namespace gemm_detail
}  // namespace cnnnative
