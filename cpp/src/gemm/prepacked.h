// A GEMM operand packed ONCE (at build time) for products that are run many times with
// the same right-hand matrix: the inference engine's convolution weights.
//
// sgemm packs both operands on every call. For a conv on a small image with many
// channels (ResNet's 7x7 stage: 512 x 4608 weights against 49 pixels) repacking the
// weights costs as much memory traffic as the multiply itself. Here the conv is written
// as the transposed product
//
//   C^T (pixels x channels) = unfold^T (pixels x C*R*S) * W^T (C*R*S x channels)
//
// so the pixels are the microkernel's broadcast (row) side, which pads little (49 rows
// in 7-row tiles: none), and W^T is the vector (column) side, packed here once into the
// microkernel's NR-column panels, KC rows at a time, in exactly the order the driver
// reads them. The caller packs the A side itself (pack_a) and accumulates KC block by
// KC block into a C buffer padded to whole tiles, so only full-tile kernels run.
//
// A PrepackedB is tied to the kernel table (and so the ISA) it was packed for; callers
// check `isa` against active_isa() and use another path when they differ.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "cnnnative/isa.h"

namespace cnnnative {
namespace gemm_detail {
struct GemmKernelTable;
const std::vector<const GemmKernelTable*>& prepacked_tables_avx512();  // 7-row tiles
}

// The tiles a PrepackedB may use on `isa`, preferred first on equal padding: sgemm's,
// plus on AVX-512 the 7-row tiles of prepacked_tiles__avx512.cc.
std::vector<const gemm_detail::GemmKernelTable*> prepacked_kernels(Isa isa);

class PrepackedB {
 public:
  // Packs op(B) (k x n; stored n x k when trans) for the tile `kernel` ("" = the tile
  // of `isa` that pads an m_hint x n product least, see prepacked_kernels).
  PrepackedB(Isa isa, bool trans, const float* b, int64_t ldb, int64_t k, int64_t n, int64_t m_hint,
             const char* kernel = "");

  Isa isa() const { return isa_; }
  int64_t k() const { return k_; }
  int64_t n() const { return n_; }
  int mr() const;
  int nr() const;
  int64_t kc() const;
  const char* kernel_name() const;
  int64_t bytes() const { return floats_ * int64_t(sizeof(float)); }

  // Writes op(B) back as it was stored (n x k when trans, else k x n) at b, row stride ldb.
  void unpack(bool trans, float* b, int64_t ldb) const;

  // Rows of a packed A block for m rows (m rounded up to whole MR panels).
  int64_t padded_rows(int64_t m) const;

  // Packs op(A)[0:m, pc:pc+kb] (A points at op(A)[0][pc]; stored k x m when trans) into
  // dst: padded_rows(m) * kb floats, MR-row panels, rows past m zero.
  void pack_a(bool trans, const float* a, int64_t lda, int64_t m, int64_t kb, float* dst) const;

  // C[0:padded_rows(m), 0:(q1-q0)*NR] = beta * C + A_block * B[pc:pc+kb, q0*NR:q1*NR]
  // for the K block starting at pc (a multiple of kc()); a_block as pack_a wrote it.
  // Every tile is whole (C must have room for the padding); beta == 0: C is not read.
  void multiply(int64_t pc, const float* a_block, int64_t m, int64_t q0, int64_t q1, float beta, float* c,
                int64_t ldc) const;

 private:
  const gemm_detail::GemmKernelTable* table_;
  Isa isa_;
  int64_t k_, n_, panels_;
  int64_t floats_;
  std::shared_ptr<float> data_;  // 64-byte aligned
};

// C (M x N) = A (M x K) * B (K x N) + row_bias[i] (null: none), row-major, C write-only,
// for a narrow N (conv's output pixels on a small image, M its output channels): computed
// as C^T = B^T A^T in the 7-row tiles (see above), A packed per call (its weights change
// between op-level calls), each thread taking a range of A's rows so that it packs only
// those, with no barrier. `threaded`: on the library's threads (never inside a parallel
// region). Worth it where use_small_n_gemm says so.
bool use_small_n_gemm(Isa isa, int64_t M, int64_t N, int64_t K);
void sgemm_small_n(bool threaded, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B,
                   int64_t ldb, float* C, int64_t ldc, const float* row_bias);

}  // namespace cnnnative
