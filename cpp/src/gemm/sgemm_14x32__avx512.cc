// AVX-512 SGEMM, 14 x 32 tile (28 zmm accumulators). 28 accumulators + 2 B vectors + 1 broadcast
// = 31 of 32 registers. The tallest tile: least padding when N is narrow (e.g. 196).
#include "gemm/sgemm_tile__avx512.h"

namespace cnnnative {
namespace gemm_detail {

const GemmKernelTable& gemm_table_14x32__avx512() {
  // The KC x 32 B panel (32 KiB at KC = 256) is reused by every A panel of the MC block
  // and stays in the 48 KiB L1; the MC x KC A block (336 KiB) stays in the 1 MiB L2.
  static const GemmKernelTable table =
      avx512_table<14, 2>("14x32__avx512", /*mc=*/14 * 24, /*kc=*/256, /*nc=*/4096);
  return table;
}

}  // namespace gemm_detail
}  // namespace cnnnative
