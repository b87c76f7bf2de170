// PrepackedB: the B operand packed once into a microkernel's panels (see prepacked.h).
//
// Layout: for each K block [pc, pc + kb) (kb = min(KC, K - pc)), the ceil(n/NR) panels
// of that block one after another, panel q holding b[k * NR + c] = op(B)[pc + k][q*NR + c]
// (zero past n). So the K block starting at pc begins at pc * panels * NR floats and
// its panel q at + q * kb * NR: the driver walks the weights strictly forward.
#include "gemm/prepacked.h"

#include <sys/mman.h>

#include <cstdlib>
#include <cstring>
#include <new>

#include "cnnnative/errors.h"
#include "cnnnative/thread_pool.h"
#include "cnnnative/threads.h"
#include "gemm/gemm_kernels.h"

namespace cnnnative {
namespace {

const gemm_detail::GemmKernelTable& pick_table(Isa isa, int64_t m_hint, int64_t n, const char* kernel) {
  const auto tables = prepacked_kernels(isa);
  if (kernel && *kernel) {
    for (const gemm_detail::GemmKernelTable* t : tables)
      if (std::strcmp(t->name, kernel) == 0) return *t;
    CN_CHECK(false, "prepacked GEMM: no kernel '", kernel, "' for ISA ", isa_name(isa));
  }
  const gemm_detail::GemmKernelTable* best = nullptr;
  double best_area = 0;
  for (const gemm_detail::GemmKernelTable* t : tables) {
    const double area = gemm_detail::padded_area(*t, std::max<int64_t>(m_hint, 1), std::max<int64_t>(n, 1));
    if (!best || area < best_area) best = t, best_area = area;
  }
  return *best;
}

}  // namespace

std::vector<const gemm_detail::GemmKernelTable*> prepacked_kernels(Isa isa) {
  std::vector<const gemm_detail::GemmKernelTable*> v;
  if (isa == Isa::avx512) v = gemm_detail::prepacked_tables_avx512();
  for (const gemm_detail::GemmKernelTable* t : gemm_detail::gemm_kernel_tables(isa)) v.push_back(t);
  return v;
}

PrepackedB::PrepackedB(Isa isa, bool trans, const float* b, int64_t ldb, int64_t k, int64_t n, int64_t m_hint,
                       const char* kernel)
    : table_(&pick_table(isa, m_hint, n, kernel)), isa_(isa), k_(k), n_(n) {
  CN_CHECK(k >= 0 && n >= 0, "prepacked GEMM: sizes must be >= 0, got k=", k, " n=", n);
  CN_CHECK(cpu_supports(isa), "prepacked GEMM: this CPU lacks ", isa_name(isa));
  const gemm_detail::GemmKernelTable& t = *table_;
  panels_ = (n + t.nr - 1) / t.nr;
  floats_ = checked_numel({k, panels_, int64_t(t.nr)}, "prepacked GEMM operand");
  // Operands of MBs are streamed from memory on every call: on 2 MiB pages (transparent
  // huge pages, which this kernel gives on request) the hardware prefetchers are not
  // stopped at every 4 KiB page boundary. Measured on 512 x 49 x 4608 with the weights
  // out of cache, one thread: 2.31 -> 2.20 ms. The size is not rounded up: a partial last
  // 2 MiB stays on small pages, so no memory is wasted.
  constexpr size_t kHuge = size_t(2) << 20;
  const size_t bytes = (size_t(std::max<int64_t>(floats_, 1)) * 4 + 63) / 64 * 64;
  const bool huge = bytes >= kHuge;
  void* raw = nullptr;
  if (posix_memalign(&raw, huge ? kHuge : 64, bytes) != 0 || !raw) throw std::bad_alloc();
  float* mem = static_cast<float*>(raw);
#ifdef MADV_HUGEPAGE
  if (huge) madvise(mem, bytes / 4096 * 4096, MADV_HUGEPAGE);  // advice only: failure is harmless
#endif
  data_ = std::shared_ptr<float>(mem, [](float* p) { std::free(p); });
  for (int64_t pc = 0; pc < k; pc += t.kc) {
    const int64_t kb = std::min(t.kc, k - pc);
    const float* src = trans ? b + pc : b + pc * ldb;
    t.pack_b(trans, src, ldb, kb, n, mem + pc * panels_ * t.nr);
  }
}

void PrepackedB::unpack(bool trans, float* b, int64_t ldb) const {
  const int nr = table_->nr;
  for (int64_t pc = 0; pc < k_; pc += table_->kc) {
    const int64_t kb = std::min(table_->kc, k_ - pc);
    const float* block = data_.get() + pc * panels_ * nr;
    for (int64_t j = 0; j < n_; ++j) {
      const float* src = block + (j / nr) * kb * nr + j % nr;
      for (int64_t kk = 0; kk < kb; ++kk) {
        const float v = src[kk * nr];
        if (trans)
          b[j * ldb + pc + kk] = v;
        else
          b[(pc + kk) * ldb + j] = v;
      }
    }
  }
}

int PrepackedB::mr() const { return table_->mr; }
int PrepackedB::nr() const { return table_->nr; }
int64_t PrepackedB::kc() const { return table_->kc; }
const char* PrepackedB::kernel_name() const { return table_->name; }

int64_t PrepackedB::padded_rows(int64_t m) const { return (m + table_->mr - 1) / table_->mr * table_->mr; }

void PrepackedB::pack_a(bool trans, const float* a, int64_t lda, int64_t m, int64_t kb, float* dst) const {
  table_->pack_a(trans, a, lda, m, kb, 1.f, dst);
}

void PrepackedB::multiply(int64_t pc, const float* a_block, int64_t m, int64_t q0, int64_t q1, float beta, float* c,
                          int64_t ldc) const {
  const gemm_detail::GemmKernelTable& t = *table_;
  const int64_t kb = std::min(t.kc, k_ - pc);
  const int64_t mp = padded_rows(m);
  const float* block = data_.get() + pc * panels_ * t.nr;
  // Each B panel (kb x NR, in L1/L2) meets every A panel of the block before the next.
  // (Software prefetch of the next B panel into L2 was measured slower: 2.23 vs 2.13 ms
  // for 512 x 49 x 4608 on one thread; the hardware prefetchers follow this stream.)
  for (int64_t q = q0; q < q1; ++q) {
    const float* bpanel = block + q * kb * t.nr;
    float* cq = c + (q - q0) * t.nr;
    for (int64_t i = 0; i < mp; i += t.mr) t.full(kb, a_block + i * kb, bpanel, cq + i * ldc, ldc, beta, nullptr);
  }
}


// ---------------------------------------------------------------------------------------
// sgemm_small_n: the same transposed product for one call, A packed as it is used.

namespace {

// A 64-byte aligned float buffer per thread that only grows (as sgemm's pack buffers).
struct GrowBuffer {
  float* data = nullptr;
  int64_t capacity = 0;
  ~GrowBuffer() { std::free(data); }
  float* get(int64_t floats) {
    if (floats > capacity) {
      std::free(data);
      data = static_cast<float*>(std::aligned_alloc(64, size_t((floats * 4 + 63) / 64 * 64)));
      capacity = data ? floats : 0;
      if (!data) throw std::bad_alloc();
    }
    return data;
  }
};
thread_local GrowBuffer tl_small_n_b;     // B^T in MR panels, all of K (shared by the team)
thread_local GrowBuffer tl_small_n_work;  // per thread: an A slice in panels + C^T

}  // namespace

bool use_small_n_gemm(Isa isa, int64_t M, int64_t N, int64_t K) {
  // Measured against sgemm on one thread for ResNet's deep convs: 512 x 49 x 4608 3.33 ->
  // 3.08 ms, 512 x 49 x 2304 1.59 -> 1.36 ms (the 7-row tile pads nothing where sgemm's
  // pad 49 pixels to 64 columns), 256 x 196 x 1152 1.29 -> 1.27 ms (no gain: left out).
  return isa == Isa::avx512 && N >= 7 && N <= 128 && M >= 64 && K >= 256;
}

void sgemm_small_n(bool threaded, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B,
                   int64_t ldb, float* C, int64_t ldc, const float* row_bias) {
  CN_CHECK(M >= 0 && N >= 0 && K >= 1, "sgemm_small_n: bad sizes M=", M, " N=", N, " K=", K);
  const Isa isa = active_isa();
  const gemm_detail::GemmKernelTable& t = pick_table(isa, N, M, "");
  const int64_t mp = (N + t.mr - 1) / t.mr * t.mr;  // C^T rows: the pixels, padded
  const int64_t panels = (M + t.nr - 1) / t.nr;
  // Each thread's share of A's rows, in whole NR panels.
  const int threads = threaded ? int(std::max<int64_t>(1, std::min<int64_t>(num_threads(), panels))) : 1;
  const int64_t share = (panels + threads - 1) / threads * t.nr;
  // B^T packed once by the calling thread: K blocks of mp x kb, MR-row panels.
  float* bt = tl_small_n_b.get(checked_mul(K, mp, "sgemm_small_n workspace"));
  for (int64_t pc = 0; pc < K; pc += t.kc) {
    const int64_t kb = std::min(t.kc, K - pc);
    t.pack_a(true, B + pc * ldb, ldb, N, kb, 1.f, bt + pc * mp);
  }
  const int64_t slice = std::min(t.kc, K) * share, ct_floats = mp * share;
  const int64_t work = (slice + ct_floats + 15) / 16 * 16;
  float* all_work = tl_small_n_work.get(checked_mul(work, threads, "sgemm_small_n workspace"));
  auto run_part = [&](int part) {
    const int64_t m0 = part * share, rows = std::min(share, M - m0);
    if (rows <= 0) return;
    float* apack = all_work + part * work;
    float* ct = apack + slice;
    const int64_t ncols = (rows + t.nr - 1) / t.nr * t.nr;
    for (int64_t pc = 0; pc < K; pc += t.kc) {
      const int64_t kb = std::min(t.kc, K - pc);
      // A[m0:m0+rows, pc:pc+kb] as B panels of A^T (zero past rows).
      t.pack_b(true, A + m0 * lda + pc, lda, kb, rows, apack);
      const float beta = pc == 0 ? 0.f : 1.f;
      for (int64_t q = 0; q < ncols / t.nr; ++q)
        for (int64_t i = 0; i < mp; i += t.mr)
          t.full(kb, bt + pc * mp + i * kb, apack + q * t.nr * kb, ct + i * ncols + q * t.nr, ncols, beta, nullptr);
    }
    for (int64_t r = 0; r < rows; ++r) {
      const float bias = row_bias ? row_bias[m0 + r] : 0.f;
      float* crow = C + (m0 + r) * ldc;
      for (int64_t j = 0; j < N; ++j) crow[j] = ct[j * ncols + r] + bias;
    }
  };
  if (threads == 1) {
    run_part(0);
    return;
  }
  run_team(threads, [&](int tid, int team) {
    for (int part = tid; part < threads; part += team) run_part(part);
  });
}

}  // namespace cnnnative
