// Portable SGEMM microkernel: a 4 x 4 tile of C in 16 scalar accumulators.
//
// The fallback that runs on any CPU (and the path the tests compare the vector kernels'
// structure against). Plain C++: the compiler may use SSE2, never AVX.
#include "gemm/gemm_kernels.h"
#include "gemm/pack_generic.h"

namespace cnnnative {
namespace gemm_detail {
namespace {

constexpr int kMR = 4;
constexpr int kNR = 4;

inline void accumulate(int64_t kc, const float* a, const float* b, float (&acc)[kMR * kNR]) {
  for (int i = 0; i < kMR * kNR; ++i) acc[i] = 0.f;
  for (int64_t k = 0; k < kc; ++k) {
    for (int r = 0; r < kMR; ++r)
      for (int j = 0; j < kNR; ++j) acc[r * kNR + j] += a[r] * b[j];
    a += kMR;
    b += kNR;
  }
}

void full_tile(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, float beta,
               const TileEpilogue* ep) {
  float acc[kMR * kNR];
  accumulate(kc, a, b, acc);
  store_edge_from_tile<kMR, kNR>(acc, kMR, kNR, c, ldc, beta, ep);
}

void edge_tile(int64_t m, int64_t n, int64_t kc, const float* a, const float* b, float* c,
               int64_t ldc, float beta, const TileEpilogue* ep) {
  float acc[kMR * kNR];
  accumulate(kc, a, b, acc);
  store_edge_from_tile<kMR, kNR>(acc, m, n, c, ldc, beta, ep);
}

void pack_a(bool trans, const float* a, int64_t lda, int64_t m, int64_t k, float alpha, float* dst) {
  pack_a_generic<kMR>(trans, a, lda, m, k, alpha, dst);
}
void pack_b(bool trans, const float* b, int64_t ldb, int64_t k, int64_t n, float* dst) {
  pack_b_generic<kNR>(trans, b, ldb, k, n, dst);
}

}  // namespace

const GemmKernelTable& gemm_table_4x4__scalar() {
  static const GemmKernelTable table{
      "4x4__scalar", Isa::scalar, kMR, kNR, /*mc=*/kMR * 64, /*kc=*/256, /*nc=*/kNR * 1024,
      &full_tile, &edge_tile, &pack_a, &pack_b};
  return table;
}

}  // namespace gemm_detail
}  // namespace cnnnative
