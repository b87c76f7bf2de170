// AVX-512 tiles with 7 rows, for the prepacked (transposed) conv product only, where the
// rows are output pixels: ResNet's images are 7 * 2^k pixels on a side, so their pixel
// counts (49, 196, 784, any batch of them) are whole multiples of 7 and these tiles pad
// nothing, where 6- or 14-row tiles waste 10-13% on 49 pixels. sgemm never picks them.
//
// 7 x 64 needs 28 accumulators + 4 B vectors + the broadcast: one more than the 32 zmm
// registers, so GCC 12 keeps one accumulator on the stack; measured as fast as 7 x 32
// anyway (512 x 49 x 4608, one thread: 2.13 vs 2.15 ms, 109 GFLOP/s = 93% of peak).
#include "gemm/sgemm_tile__avx512.h"

namespace cnnnative {
namespace gemm_detail {

const std::vector<const GemmKernelTable*>& prepacked_tables_avx512() {
  static const GemmKernelTable t7x64 = avx512_table<7, 4>("7x64__avx512", 7 * 48, 256, 64 * 128);
  static const GemmKernelTable t7x48 = avx512_table<7, 3>("7x48__avx512", 7 * 48, 256, 48 * 128);
  static const GemmKernelTable t7x32 = avx512_table<7, 2>("7x32__avx512", 7 * 48, 256, 32 * 128);
  static const std::vector<const GemmKernelTable*> tables{&t7x64, &t7x48, &t7x32};
  return tables;
}

}  // namespace gemm_detail
}  // namespace cnnnative
