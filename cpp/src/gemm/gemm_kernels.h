// The per-ISA pieces of the packed SGEMM and the table that holds them.
//
// The driver (sgemm.cc) is written once; everything that depends on the instruction set
// lives behind a GemmKernelTable: the register tile (MR x NR), the cache blocking
// (MC, KC, NC), the two packing routines and the two microkernels. The table for the
// active ISA is looked up on every call (gemm_kernel_table), so tests can switch ISA.
//
// Packed layouts (both zero-padded to whole panels, so kernels never read past them):
//   A block (mc x kc) -> ceil(mc/MR) panels; panel p holds a[k*MR + r] = alpha*op(A)[p*MR+r][k]
//   B block (kc x nc) -> ceil(nc/NR) panels; panel q holds b[k*NR + c] = op(B)[k][q*NR+c]
#pragma once
#include <cstdint>

#include "cnnnative/gemm.h"
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
  int mr, nr;
  int64_t mc, kc, nc;  // cache blocking: mc multiple of mr, nc multiple of nr
  FullTileKernel full;
  EdgeTileKernel edge;
  PackAFn pack_a;
  PackBFn pack_b;
};

// Vectorised packing helpers (their own files).
// pack_b_generic<32>(trans = true, ...) with 16 x 16 in-register transposes.
void pack_b_trans_32__avx512(const float* b, int64_t ldb, int64_t k, int64_t n, float* dst);

// One per ISA, each defined in its own source file.
const GemmKernelTable& gemm_table_scalar();
const GemmKernelTable& gemm_table_avx2();
const GemmKernelTable& gemm_table_avx512();

inline const GemmKernelTable& gemm_kernel_table(Isa isa) {
  switch (isa) {
    case Isa::avx512: return gemm_table_avx512();
    case Isa::avx2: return gemm_table_avx2();
    default: return gemm_table_scalar();
  }
}

}  // namespace gemm_detail
}  // namespace cnnnative
