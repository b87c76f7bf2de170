// The per-ISA pieces of the packed SGEMM and the table that holds them.
//
// The driver (sgemm.cc) is written once; everything that depends on the instruction set
// lives behind a GemmKernelTable: the register tile (MR x NR), the cache blocking
// (MC, KC, NC), the two packing routines and the two microkernels. The table for the
// active ISA and shape is looked up on every call (choose_gemm_kernel, kernel_select.cc).
//
// Packed layouts (both zero-padded to whole panels, so kernels never read past them):
//   A block (mc x kc) -> ceil(mc/MR) panels; panel p holds a[k*MR + r] = alpha*op(A)[p*MR+r][k]
//   B block (kc x nc) -> ceil(nc/NR) panels; panel q holds b[k*NR + c] = op(B)[k][q*NR+c]
#pragma once
#include <atomic>
#include <cstdint>
#include <vector>

#include "cnnnative/gemm.h"
#include "cnnnative/cpu_caches.h"
#include "cnnnative/isa.h"

namespace cnnnative {
namespace gemm_detail {

// What a microkernel does after the multiply, for the tile it is writing. Pointers are
// already offset to the tile (row_bias[r] is for the tile's row r, col_bias[c] for
// column c). A null TileEpilogue* means "store alpha*AB + beta*C and nothing else".
struct TileEpilogue {
  const float* row_bias = nullptr;
  const float* col_bias = nullptr;
  bool clamp = false;
  float lo = 0.f, hi = 0.f;
};

// C[0:MR, 0:NR] = A_panel * B_panel + beta * C (+ epilogue). beta == 0: C is not read.
using FullTileKernel = void (*)(int64_t kc, const float* a, const float* b, float* c, int64_t ldc,
                                float beta, const TileEpilogue* ep);
// The same for the m x n corner (m <= MR, n <= NR) of a tile at the matrix edge; only
// those m x n elements of C are read or written.
using EdgeTileKernel = void (*)(int64_t m, int64_t n, int64_t kc, const float* a, const float* b,
                                float* c, int64_t ldc, float beta, const TileEpilogue* ep);
// Pack op(A)[0:m, 0:k] (A points at its first element; stored k x m when trans) times
// alpha into ceil(m/MR) panels at dst.
using PackAFn = void (*)(bool trans, const float* a, int64_t lda, int64_t m, int64_t k,
                         float alpha, float* dst);
// Pack op(B)[0:k, 0:n] (B points at its first element; stored n x k when trans) into
// ceil(n/NR) panels at dst.
using PackBFn = void (*)(bool trans, const float* b, int64_t ldb, int64_t k, int64_t n, float* dst);

struct GemmKernelTable {
  const char* name;  // e.g. "14x32__avx512"
  Isa isa;           // the instruction set the kernels need
  int mr, nr;
  int64_t mc, kc, nc;  // cache blocking: mc multiple of mr, nc multiple of nr
  FullTileKernel full;
  EdgeTileKernel edge;
  PackAFn pack_a;
  PackBFn pack_b;
};

// Vectorised packing helper: pack_b_generic<16 * nv>(trans = true, ...) with 16 x 16
// in-register transposes.
void pack_b_trans__avx512(int nv, const float* b, int64_t ldb, int64_t k, int64_t n, float* dst);
// pack_a_generic<mr> (mr <= 16) with 16 x 16 transposes / masked copies.
void pack_a__avx512(int mr, bool trans, const float* a, int64_t lda, int64_t m, int64_t k,
                    float alpha, float* dst);

// One table per tile shape, each defined in its own source file.
const GemmKernelTable& gemm_table_4x4__scalar();
const GemmKernelTable& gemm_table_6x16__avx2();
const GemmKernelTable& gemm_table_14x32__avx512();
const GemmKernelTable& gemm_table_8x48__avx512();
const GemmKernelTable& gemm_table_6x64__avx512();
// Alternatives measured against the defaults, never chosen automatically.
const std::vector<GemmKernelTable>& gemm_tuning_variants_avx512();

// The tables an ISA chooses from for each call (kernel_select.cc), best first on ties.
const std::vector<const GemmKernelTable*>& gemm_kernel_tables(Isa isa);
// The table for this product on this ISA: the tile that wastes the least work on padding
// (M and N rounded up to whole tiles), unless a benchmark forced one by name.
const GemmKernelTable& choose_gemm_kernel(Isa isa, int64_t M, int64_t N);
// ceil(M/MR)*MR * ceil(N/NR)*NR: the work the tile does for an M x N product.
double padded_area(const GemmKernelTable& t, int64_t M, int64_t N);
// True when computing C^T (N x M) and transposing it into C is cheaper than computing C:
// clearly less padding, or a short wide product with B stored transposed (never while a
// benchmark/test forces a tile).
bool prefer_transposed(Isa isa, int64_t M, int64_t N, int64_t K, bool trans_b);
// True when the product has so few rows that the skinny kernels (gemm/skinny.h) beat
// packing (never while a benchmark/test forces a tile).
bool prefer_skinny(int64_t M, int64_t N, int64_t K);

}  // namespace gemm_detail
}  // namespace cnnnative
