// The packed, blocked SGEMM driver (BLIS loop order), shared by every ISA.
//
//   for jc over N in NC blocks:
//     pack op(B)[:, jc:jc+NC] into NR-column panels, KC rows at a time  (shared buffer)
//     barrier (only when threads share B panels)
//     for pc over K in KC blocks:
//       for ic over this thread's rows in MC blocks:
//         pack alpha*op(A)[ic:ic+MC, pc:pc+KC] into MR-row panels (per thread)
//         for jr over this thread's NR panels:       B panel stays in L1 ...
//           for ir over the MC block in MR steps:    ... while A panels stream from L2
//             microkernel: C tile (+)= A panel * B panel
//     barrier (before the B buffer is refilled for the next N block)
//
// Threads split the work into a tm x tn grid of (rows, panels): splitting rows shares B
// and packs A once; splitting columns keeps both threads busy when M is small (conv's
// 64 x 3136) and needs no barrier at all. choose_grid weighs both. B is packed for all of
// K at once so that threads meet once per N block, not twice per K block: on a busy
// machine every barrier waits for the slowest thread. The first K block applies the
// caller's beta, later ones accumulate (beta = 1); the epilogue runs with the last.
// When there are too few C tiles for the threads but K is long, K is split instead
// (run_split_k); when the transposed product pads much less (N narrow), C^T is computed
// and transposed into C (run_transposed).

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <new>

#include "cnnnative/errors.h"
#include "cnnnative/gemm.h"
#include "cnnnative/isa.h"
#include "core/int_math.h"
#include "cnnnative/thread_pool.h"
#include "cnnnative/threads.h"
#include "gemm/gemm_kernels.h"
#include "gemm/skinny.h"

namespace cnnnative {
namespace {

using gemm_detail::GemmKernelTable;
using gemm_detail::TileEpilogue;


// A 64-byte aligned float buffer that only grows. One per thread (thread_local), so
// concurrent calls from different Python threads never share scratch.
class PackBuffer {
 public:
  ~PackBuffer() { std::free(data_); }
  float* get(int64_t floats) {
    if (floats > capacity_) {
      std::free(data_);
      data_ = nullptr;
      capacity_ = 0;
      const size_t bytes = static_cast<size_t>(ceil_div(floats * 4, 64) * 64);
      data_ = static_cast<float*>(std::aligned_alloc(64, bytes));
      if (!data_) throw std::bad_alloc();
      capacity_ = floats;
    }
    return data_;
  }

 private:
  float* data_ = nullptr;
  int64_t capacity_ = 0;
};

// Holds the B block and every thread's A block of one call. Allocated by the calling
// thread before the team starts, so nothing inside the parallel region can throw.
thread_local PackBuffer tl_pack;
// Partial C matrices of a split-K call (run_split_k), also owned by the calling thread.
thread_local PackBuffer tl_partial;
// C^T of a call computed transposed (run_transposed).
thread_local PackBuffer tl_transposed;
// A copied row-major for the skinny kernels when it is stored transposed (run_skinny).
thread_local PackBuffer tl_skinny_a;

// Shortest K worth splitting across threads when there are too few C tiles to share.
constexpr int64_t kSplitKMin = 2048;

std::atomic<bool>& poison_scratch() {
  static std::atomic<bool> on{false};
  return on;
}

struct Problem {
  bool ta, tb;
  int64_t M, N, K;
  float alpha;
  const float* A;
  int64_t lda;
  const float* B;
  int64_t ldb;
  float beta;
  float* C;
  int64_t ldc;
  const GemmEpilogue* ep;  // null: none
};

// [begin, end) of part `i` when `n` items are split as evenly as possible into `parts`.
inline int64_t split_begin(int64_t n, int64_t parts, int64_t i) { return n * i / parts; }

struct Grid {
  int tm, tn;  // thread grid: tm row groups x tn column groups
};

// Choose the thread grid minimising the slowest thread's time, modelled as its padded
// tile work plus the cost of packing its A rows (about as costly per element as 50 flops;
// a thread in a column group packs the A rows of its whole row group).
Grid choose_grid(const Problem& p, const GemmKernelTable& t, int threads) {
  Grid best{threads, 1};
  double best_cost = -1;
  const int64_t tiles_m = ceil_div(p.M, t.mr), panels_n = ceil_div(p.N, t.nr);
  for (int tm = threads; tm >= 1; --tm) {
    if (threads % tm) continue;
    const int tn = threads / tm;
    const double rows = static_cast<double>(ceil_div(tiles_m, tm) * t.mr);
    const double cols = static_cast<double>(ceil_div(panels_n, tn) * t.nr);
    const double cost = rows * (2.0 * cols + 50.0);
    if (best_cost < 0 || cost < best_cost) best = {tm, tn}, best_cost = cost;
  }
  return best;
}

// Runs thread `tid` of `threads` over the whole problem. `parallel` says whether it runs
// inside a thread team (and so must meet the others at barriers). `nc` is this call's
// N block: the packed B block holds all of K for nc columns.
void run_thread(const Problem& p, const GemmKernelTable& t, Grid g, int64_t nc, int tid,
                bool parallel, float* bpack, float* apack) {
  const int ti = tid / g.tn, tj = tid % g.tn;
  const int64_t tiles_m = ceil_div(p.M, t.mr);
  const int64_t row0 = std::min(p.M, split_begin(tiles_m, g.tm, ti) * t.mr);
  const int64_t row1 = std::min(p.M, split_begin(tiles_m, g.tm, ti + 1) * t.mr);
  // Threads of one column group share its B panels, so they meet at barriers when there
  // are several of them (tm > 1); with tm == 1 each thread packs exactly what it uses.
  const bool shared_b = parallel && g.tm > 1;
  auto barrier = [shared_b] {
    if (shared_b) team_barrier();
  };

  for (int64_t jc = 0; jc < p.N; jc += nc) {
    const int64_t nb = std::min(nc, p.N - jc);
    const int64_t panels = ceil_div(nb, t.nr);
    const int64_t q0 = split_begin(panels, g.tn, tj), q1 = split_begin(panels, g.tn, tj + 1);
    // Pack op(B)[:, jc:jc+nb] once for all K blocks: this thread's share of its column
    // group's panels. The K block starting at pc lives at bpack + pc * panels * NR.
    const int64_t bq0 = q0 + split_begin(q1 - q0, g.tm, ti), bq1 = q0 + split_begin(q1 - q0, g.tm, ti + 1);
    if (bq0 < bq1) {
      const int64_t j0 = jc + bq0 * t.nr;
      const int64_t ncols = std::min(nb - bq0 * t.nr, (bq1 - bq0) * t.nr);
      for (int64_t pc = 0; pc < p.K; pc += t.kc) {
        const int64_t kb = std::min(t.kc, p.K - pc);
        const float* bsrc = p.tb ? p.B + j0 * p.ldb + pc : p.B + pc * p.ldb + j0;
        t.pack_b(p.tb, bsrc, p.ldb, kb, ncols, bpack + pc * panels * t.nr + bq0 * t.nr * kb);
      }
    }
    barrier();

    for (int64_t pc = 0; pc < p.K && q0 < q1; pc += t.kc) {
      const int64_t kb = std::min(t.kc, p.K - pc);
      const float beta = pc == 0 ? p.beta : 1.f;
      const bool last_k = pc + kb == p.K;
      const float* bblock = bpack + pc * panels * t.nr;
      for (int64_t ic = row0; ic < row1; ic += t.mc) {
        const int64_t mb = std::min(t.mc, row1 - ic);
        const float* asrc = p.ta ? p.A + pc * p.lda + ic : p.A + ic * p.lda + pc;
        t.pack_a(p.ta, asrc, p.lda, mb, kb, p.alpha, apack);
        for (int64_t q = q0; q < q1; ++q) {
          const int64_t col = jc + q * t.nr;
          const int64_t ncols = std::min<int64_t>(t.nr, p.N - col);
          const float* bpanel = bblock + q * t.nr * kb;
          for (int64_t ir = 0; ir < mb; ir += t.mr) {
            const int64_t row = ic + ir;
            const int64_t mrows = std::min<int64_t>(t.mr, row1 - row);
            const float* apanel = apack + ir * kb;
            float* c = p.C + row * p.ldc + col;
            TileEpilogue tile_ep;
            const TileEpilogue* ep = nullptr;
            if (last_k && p.ep) {
              tile_ep.row_bias = p.ep->row_bias ? p.ep->row_bias + row : nullptr;
              tile_ep.col_bias = p.ep->col_bias ? p.ep->col_bias + col : nullptr;
              tile_ep.clamp = p.ep->has_clamp();
              tile_ep.lo = p.ep->clamp_min;
              tile_ep.hi = p.ep->clamp_max;
              ep = &tile_ep;
            }
            if (mrows == t.mr && ncols == t.nr)
              t.full(kb, apanel, bpanel, c, p.ldc, beta, ep);
            else
              t.edge(mrows, ncols, kb, apanel, bpanel, c, p.ldc, beta, ep);
          }
        }
      }
    }
    if (jc + nc < p.N) barrier();  // the B buffer is refilled next
  }
}

// C = beta * C (+ epilogue) when there is nothing to multiply (K == 0 or alpha == 0).
void scale_only(const Problem& p, bool parallel) {
  auto row_job = [&p](int64_t i) {
    float* c = p.C + i * p.ldc;
    for (int64_t j = 0; j < p.N; ++j) {
      float v = p.beta == 0.f ? 0.f : p.beta * c[j];
      if (p.ep) {
        if (p.ep->row_bias) v += p.ep->row_bias[i];
        if (p.ep->col_bias) v += p.ep->col_bias[j];
        if (p.ep->has_clamp()) v = std::min(std::max(v, p.ep->clamp_min), p.ep->clamp_max);
      }
      c[j] = v;
    }
  };
  team_for_each(parallel ? num_threads() : 1, p.M, row_job);
}

void validate(const Problem& p) {
  CN_CHECK(p.M >= 0 && p.N >= 0 && p.K >= 0, "sgemm: sizes must be >= 0, got M=", p.M, " N=", p.N,
           " K=", p.K);
  const int64_t a_cols = p.ta ? p.M : p.K, b_cols = p.tb ? p.K : p.N;
  CN_CHECK(p.lda >= std::max<int64_t>(1, a_cols), "sgemm: lda=", p.lda, " must be >= ", a_cols,
           " (columns of A as stored)");
  CN_CHECK(p.ldb >= std::max<int64_t>(1, b_cols), "sgemm: ldb=", p.ldb, " must be >= ", b_cols,
           " (columns of B as stored)");
  CN_CHECK(p.ldc >= std::max<int64_t>(1, p.N), "sgemm: ldc=", p.ldc, " must be >= N=", p.N);
  // Every address the kernels form must fit in int64.
  checked_numel({p.ta ? p.K : p.M, p.lda}, "sgemm: A extent");
  checked_numel({p.tb ? p.N : p.K, p.ldb}, "sgemm: B extent");
  checked_numel({p.M, p.ldc}, "sgemm: C extent");
  if (p.ep) {
    CN_CHECK(!(p.ep->clamp_min > p.ep->clamp_max), "sgemm: clamp_min=", p.ep->clamp_min,
             " is greater than clamp_max=", p.ep->clamp_max);
  }
}

// may_transpose false: the problem is already the transpose of the caller's (see
// run_transposed), and must not be turned back, even where the two padded areas are
// within the 2% that would make prefer_transposed say yes both ways.
void run(const Problem& p, bool allow_threads, bool may_transpose = true);

// Few C tiles but a long K (conv weight gradients: M = out channels, N = C*R*S, K =
// batch*OH*OW) leaves threads idle when only M and N are split. Then each thread
// multiplies one K slice into its own partial C, and the partials are summed (with beta
// and the epilogue) afterwards. Deterministic for a given thread count, but the sum is
// ordered differently from the one-thread result, so the two may differ by rounding.
void run_split_k(const Problem& p, int parts) {
  const int64_t mn = p.M * p.N;
  float* partial = tl_partial.get(checked_mul(parts, mn));
  run_team(parts, [&](int tid, int team) {  // the parts are fixed: any team sums them alike
    for (int part = tid; part < parts; part += team) {
      const int64_t k0 = split_begin(p.K, parts, part), k1 = split_begin(p.K, parts, part + 1);
      Problem slice = p;
      slice.K = k1 - k0;
      slice.A = p.ta ? p.A + k0 * p.lda : p.A + k0;
      slice.B = p.tb ? p.B + k0 : p.B + k0 * p.ldb;
      slice.beta = 0.f;
      slice.C = partial + part * mn;
      slice.ldc = p.N;
      slice.ep = nullptr;
      run(slice, false);
    }
  });
  team_for_each(parts, p.M, [&](int64_t i) {
    float* c = p.C + i * p.ldc;
    for (int64_t j = 0; j < p.N; ++j) {
      float v = 0.f;
      for (int part = 0; part < parts; ++part) v += partial[part * mn + i * p.N + j];
      if (p.beta != 0.f) v += p.beta * c[j];
      if (p.ep) {
        if (p.ep->row_bias) v += p.ep->row_bias[i];
        if (p.ep->col_bias) v += p.ep->col_bias[j];
        if (p.ep->has_clamp()) v = std::min(std::max(v, p.ep->clamp_min), p.ep->clamp_max);
      }
      c[j] = v;
    }
  });
}

// Narrow products such as 256 x 196 waste an eighth of every tile on padding N up to
// whole vectors, while their transpose (196 x 256) pads nothing; short wide products
// with a transposed B pack better transposed. In those cases (prefer_transposed) compute
// C^T = op(B)^T op(A)^T into scratch and transpose it into C, applying beta and the
// epilogue on the way.
void run_transposed(const Problem& p, bool allow_threads) {
  const int64_t mn = checked_mul(p.M, p.N);
  float* ct = tl_transposed.get(mn);
  // op(B)^T is op'(B) with the transpose flag flipped, and likewise for A.
  Problem q{!p.tb, !p.ta, p.N, p.M, p.K, p.alpha, p.B, p.ldb, p.A, p.lda, 0.f, ct, p.M, nullptr};
  run(q, allow_threads, /*may_transpose=*/false);
  auto row_job = [&p, ct](int64_t i) {
    float* c = p.C + i * p.ldc;
    for (int64_t j = 0; j < p.N; ++j) {
      float v = ct[j * p.M + i];
      if (p.beta != 0.f) v += p.beta * c[j];
      if (p.ep) {
        if (p.ep->row_bias) v += p.ep->row_bias[i];
        if (p.ep->col_bias) v += p.ep->col_bias[j];
        if (p.ep->has_clamp()) v = std::min(std::max(v, p.ep->clamp_min), p.ep->clamp_max);
      }
      c[j] = v;
    }
  };
  team_for_each(allow_threads && mn >= (1 << 14) ? num_threads() : 1, p.M, row_job);
}

// M <= kSkinnyMaxRows: stream op(B) once (gemm/skinny.h). Threads split the columns of C,
// so every element is summed in the same order whatever the thread count.
void run_skinny(const Problem& p, bool allow_threads) {
  const float* a = p.A;
  int64_t lda = p.lda;
  if (p.ta) {  // stored K x M: copy to M x K so the kernels read contiguous rows
    float* rows = tl_skinny_a.get(checked_mul(p.M, p.K));
    for (int64_t k = 0; k < p.K; ++k)
      for (int64_t i = 0; i < p.M; ++i) rows[i * p.K + k] = p.A[k * p.lda + i];
    a = rows;
    lda = p.K;
  }
  const gemm_detail::SkinnyProblem q{p.tb, p.M, p.K, p.alpha, a, lda, p.B, p.ldb, p.beta, p.C, p.ldc, p.ep};
  const gemm_detail::SkinnyKernel kernel = gemm_detail::skinny_kernel(active_isa());
  // One thread streams a 2 MB B in ~35 us; waking a second costs about as much (far more
  // on a busy machine), so only large B are split.
  const int threads = allow_threads && p.M * p.N * p.K >= (1 << 22) && p.N >= 128 ? num_threads() : 1;
  if (threads == 1) {
    kernel(q, 0, p.N);
    return;
  }
  // Column ranges in whole 64-column chunks, so no thread splits a register block.
  const int64_t chunks = ceil_div(p.N, 64);
  run_team(threads, [&](int t, int team) {  // each column by one member
    const int64_t j0 = std::min(p.N, split_begin(chunks, team, t) * 64);
    const int64_t j1 = std::min(p.N, split_begin(chunks, team, t + 1) * 64);
    if (j1 > j0) kernel(q, j0, j1);
  });
}

void run(const Problem& p, bool allow_threads, bool may_transpose) {
  validate(p);
  if (p.M == 0 || p.N == 0) return;
  if (p.K == 0 || p.alpha == 0.f) {
    scale_only(p, allow_threads && p.M * p.N >= (1 << 16));
    return;
  }
  if (gemm_detail::prefer_skinny(p.M, p.N, p.K)) {
    run_skinny(p, allow_threads);
    return;
  }
  const GemmKernelTable& t = gemm_detail::choose_gemm_kernel(active_isa(), p.M, p.N);
  if (may_transpose && gemm_detail::prefer_transposed(active_isa(), p.M, p.N, p.K, p.tb)) {
    run_transposed(p, allow_threads);
    return;
  }
  if (allow_threads && num_threads() > 1 && p.K >= kSplitKMin &&
      ceil_div(p.M, t.mr) * ceil_div(p.N, t.nr) < 4 * num_threads()) {
    run_split_k(p, num_threads());
    return;
  }

  // Small products are not worth waking a thread team for.
  int threads = 1;
  if (allow_threads) {
    const double flops = 2.0 * static_cast<double>(p.M) * static_cast<double>(p.N) * static_cast<double>(p.K);
    if (flops >= 2.0 * 48 * 48 * 48) threads = num_threads();
    const int64_t tiles = ceil_div(p.M, t.mr) * ceil_div(p.N, t.nr);
    threads = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(threads, tiles)));
  }
  const Grid g = choose_grid(p, t, threads);
  // The packed B block holds all of K for nc columns, so threads meet once per N block
  // rather than once per K block. Keep it to about a quarter of L3, at most 8 MiB.
  static const int64_t kBBlockFloats = std::clamp<int64_t>(cpu_caches().l3 / 4, int64_t{1} << 20, int64_t{8} << 20) / 4;
  const int64_t nc = std::min(t.nc, std::max<int64_t>(t.nr, kBBlockFloats / p.K / t.nr * t.nr));
  // Scratch: the shared B block, then one A block per thread (each 64-byte aligned).
  const int64_t b_floats = ceil_div(p.K * ceil_div(std::min(nc, p.N), t.nr) * t.nr, 16) * 16;
  const int64_t a_rows = std::min(t.mc, ceil_div(ceil_div(p.M, t.mr), g.tm) * t.mr);
  const int64_t a_floats = ceil_div(std::min(t.kc, p.K) * a_rows, 16) * 16;
  float* scratch = tl_pack.get(checked_add(b_floats, checked_mul(threads, a_floats)));
  if (poison_scratch().load(std::memory_order_relaxed))
    std::fill(scratch, scratch + b_floats + threads * a_floats, std::nanf(""));
  if (threads == 1) {
    run_thread(p, t, g, nc, 0, false, scratch, scratch + b_floats);
    return;
  }
  // Each C tile is summed over all of K by one member in the same order, whatever the grid
  // (1 and 2 threads give the same bits: tests/test_threads.py), so any team size will do.
  run_team(threads, [&](int tid, int team) {
    if (team == threads) {
      run_thread(p, t, g, nc, tid, true, scratch, scratch + b_floats + tid * a_floats);
    } else {  // fewer threads than asked for (the team is busy elsewhere): run on one
      run_thread(p, t, Grid{1, 1}, nc, 0, false, scratch, scratch + b_floats);
    }
  });
}

}  // namespace

void sgemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
           int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  run(Problem{ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, nullptr}, true);
}

void sgemm_single_thread(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha,
                         const float* A, int64_t lda, const float* B, int64_t ldb, float beta,
                         float* C, int64_t ldc) {
  run(Problem{ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, nullptr}, false);
}

void sgemm_ex(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
              int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc,
              const GemmEpilogue& ep) {
  run(Problem{ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, ep.empty() ? nullptr : &ep},
      true);
}

void sgemm_ex_single_thread(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha,
                            const float* A, int64_t lda, const float* B, int64_t ldb, float beta,
                            float* C, int64_t ldc, const GemmEpilogue& ep) {
  run(Problem{ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, ep.empty() ? nullptr : &ep},
      false);
}

void set_sgemm_poison_scratch(bool on) { poison_scratch().store(on); }

}  // namespace cnnnative
