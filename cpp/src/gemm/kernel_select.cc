// Which SGEMM tile runs a given product.
//
// AVX-512 has three tiles (14x32, 8x48, 6x64) with about the same speed on large blocks
// (measured with benchmarks/bench_gemm.py --variants); what differs is how much work is wasted padding M
// and N up to whole tiles. So each call takes the tile with the smallest padded area
// ceil(M/MR)*MR x ceil(N/NR)*NR, e.g. 8x48 for conv's 64 x 3136 (no padding) and 14x32
// for 256 x 196. AVX2 and scalar have one tile each. When the transposed product
// C^T = op(B)^T op(A)^T pads clearly less (N narrow) and A is small, sgemm computes that
// instead (prefer_transposed; e.g. 256 x 196 x 2304).
#include <atomic>
#include <string>
#include <vector>

#include "cnnnative/errors.h"
#include "cnnnative/gemm.h"
#include "gemm/gemm_kernels.h"
#include "gemm/skinny.h"

namespace cnnnative {
namespace gemm_detail {
namespace {

// Every table that can be forced by name: the automatic ones, then the tuning variants.
// An ISA's tables are built by code compiled for that ISA, so only ISAs the CPU has are
// asked for them (building the AVX-512 variants on an AVX2-only CPU was a SIGILL).
std::vector<const GemmKernelTable*> all_tables() {
  std::vector<const GemmKernelTable*> v;
  for (Isa isa : available_isas())
    for (const GemmKernelTable* t : gemm_kernel_tables(isa)) v.push_back(t);
  if (cpu_supports(Isa::avx512))
    for (const GemmKernelTable& t : gemm_tuning_variants_avx512()) v.push_back(&t);
  return v;
}

// Index into all_tables() forced by a benchmark, or -1. Read once per call.
std::atomic<int>& forced_table() {
  static std::atomic<int> index{-1};
  return index;
}

}  // namespace

const std::vector<const GemmKernelTable*>& gemm_kernel_tables(Isa isa) {
  // Each list is built on first use of its own ISA only (see all_tables).
  switch (isa) {
    case Isa::avx512: {
      static const std::vector<const GemmKernelTable*> avx512{
          &gemm_table_6x64__avx512(), &gemm_table_8x48__avx512(), &gemm_table_14x32__avx512()};
      return avx512;
    }
    case Isa::avx2: {
      static const std::vector<const GemmKernelTable*> avx2{&gemm_table_6x16__avx2()};
      return avx2;
    }
    default: {
      static const std::vector<const GemmKernelTable*> scalar{&gemm_table_4x4__scalar()};
      return scalar;
    }
  }
}

double padded_area(const GemmKernelTable& t, int64_t M, int64_t N) {
  return static_cast<double>((M + t.mr - 1) / t.mr * t.mr) *
         static_cast<double>((N + t.nr - 1) / t.nr * t.nr);
}

const GemmKernelTable& choose_gemm_kernel(Isa isa, int64_t M, int64_t N) {
  const int forced = forced_table().load(std::memory_order_relaxed);
  if (forced >= 0) {
    static const std::vector<const GemmKernelTable*> tables = all_tables();
    if (tables[forced]->isa == isa) return *tables[forced];
  }
  const GemmKernelTable* best = nullptr;
  double best_area = 0;
  for (const GemmKernelTable* t : gemm_kernel_tables(isa)) {
    const double area = padded_area(*t, M, N);
    if (!best || area < best_area) best = t, best_area = area;
  }
  return *best;
}

bool prefer_transposed(Isa isa, int64_t M, int64_t N, int64_t K, bool trans_b) {
  if (forced_table().load(std::memory_order_relaxed) >= 0) return false;  // tests: as asked
  if (K < 64) return false;  // the extra pass over C would cost about what it saves
  // Transposed, A becomes the B operand, which is packed for all of K at once and then
  // used by only N rows. When A outgrows the caches or N is small, that packing traffic
  // costs more than the padding saved (measured on one thread: 512 x 49 x 4608 61 vs 72
  // GFLOP/s direct, 1024 x 49 x 1024 64 vs 70), so only for A up to 4 MB and N >= 96.
  if (N < 96 || static_cast<double>(M) * static_cast<double>(K) > (1 << 20)) return false;
  const double direct = padded_area(choose_gemm_kernel(isa, M, N), M, N);
  const double transposed = padded_area(choose_gemm_kernel(isa, N, M), N, M);
  // Clearly less padding (256 x 196 x 2304: 95 vs 85 GFLOP/s direct).
  if (transposed < 0.92 * direct) return true;
  // A short, wide product with B stored transposed (linear layers, conv weight
  // gradients): transposed, the big B is packed as A, MC x KC at a time in L2 with
  // vector transposes, instead of all of K at once. Measured on one thread:
  // 64 x 576 x 3136 90 vs 79 GFLOP/s, 64 x 1000 x 512 97 vs 92.
  return trans_b && M <= 128 && transposed <= 1.02 * direct;
}

bool prefer_skinny(int64_t M, int64_t N, int64_t K) {
  if (forced_table().load(std::memory_order_relaxed) >= 0) return false;  // tests: as asked
  // M = 1 linear layer 1000 x 512: 0.69 ms packed (B packed, 1 of 6 tile rows used) vs
  // a streaming pass over the 2 MB weight.
  return M <= kSkinnyMaxRows && N * K >= 256;
}

SkinnyKernel skinny_kernel(Isa isa) {
  switch (isa) {
    case Isa::avx512: return skinny__avx512;
    case Isa::avx2: return skinny__avx2;
    default: return skinny__scalar;
  }
}

}  // namespace gemm_detail

SgemmBlocking sgemm_blocking(int64_t M, int64_t N, int64_t K, bool trans_b) {
  const bool transposed = gemm_detail::prefer_transposed(active_isa(), M, N, K, trans_b);
  const gemm_detail::GemmKernelTable& t =
      transposed ? gemm_detail::choose_gemm_kernel(active_isa(), N, M)
                 : gemm_detail::choose_gemm_kernel(active_isa(), M, N);
  return SgemmBlocking{t.name, t.mr, t.nr, t.mc, t.kc, t.nc, transposed};
}

std::vector<std::string> sgemm_kernels() {
  std::vector<std::string> names;
  for (const auto* t : gemm_detail::gemm_kernel_tables(active_isa())) names.push_back(t->name);
  return names;
}

std::vector<std::string> sgemm_variants() {
  std::vector<std::string> names;
  for (const auto* t : gemm_detail::all_tables()) names.push_back(t->name);
  return names;
}

void force_sgemm_kernel(const std::string& name) {
  if (name.empty()) {
    gemm_detail::forced_table().store(-1);
    return;
  }
  const auto tables = gemm_detail::all_tables();
  for (size_t i = 0; i < tables.size(); ++i) {
    if (name == tables[i]->name) {
      gemm_detail::forced_table().store(static_cast<int>(i));
      return;
    }
  }
  std::string known;
  for (const auto* t : tables) known += std::string(known.empty() ? "" : ", ") + t->name;
  CN_CHECK(false, "unknown sgemm kernel '", name, "'; known: ", known);
}

}  // namespace cnnnative
