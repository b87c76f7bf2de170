// Alternative AVX-512 tiles and blockings that are NOT used by default, kept so that the
// benchmark can show why the defaults were chosen (_core._force_sgemm_kernel(name)).
#include <vector>

#include "gemm/sgemm_tile__avx512.h"

namespace cnnnative {
namespace gemm_detail {

const std::vector<GemmKernelTable>& gemm_tuning_variants_avx512() {
  static const std::vector<GemmKernelTable> variants{
      avx512_table<14, 2>("14x32__avx512/kc192", 14 * 24, 192, 32 * 128),
      avx512_table<14, 2>("14x32__avx512/kc384", 14 * 16, 384, 32 * 128),
      avx512_table<12, 2>("12x32__avx512", 12 * 28, 256, 32 * 128),
      avx512_table<6, 4>("6x64__avx512/kc256", 6 * 56, 256, 64 * 128),
      avx512_table<8, 3>("8x48__avx512/kc384", 8 * 28, 384, 48 * 128),
  };
  return variants;
}

}  // namespace gemm_detail
}  // namespace cnnnative
