// AVX-512 SGEMM, 6 x 64 tile (24 zmm accumulators). 24 accumulators + 4 B vectors + 1 broadcast.
// The fewest loads per FMA (10 per 24); best on large squares and N = 64k.
#include "gemm/sgemm_tile__avx512.h"

namespace cnnnative {
namespace gemm_detail {

const GemmKernelTable& gemm_table_6x64__avx512() {
  // The KC x 64 B panel (96 KiB at KC = 384) streams from L2, which easily feeds 24 FMAs
  // per 4 vector loads; the longer KC cuts C loads and stores by a third and measured ~2% faster than 256
  // (bench_gemm.py --variants). The MC x KC A block (360 KiB) stays in the 1 MiB L2.
  static const GemmKernelTable table =
      avx512_table<6, 4>("6x64__avx512", /*mc=*/6 * 40, /*kc=*/384, /*nc=*/8192);
  return table;
}

}  // namespace gemm_detail
}  // namespace cnnnative
