// Weight (and bias) gradient of conv2d by im2col + GEMM:
//   dw_g[Kg, Cg*R*S] = sum over images n of dy[n, g][Kg, P] * cols(x[n, g])^T
// accumulated band by band. Both dy and the column matrix are read along their rows
// (the reduction runs over output pixels), so for small weight blocks the product is
// best done as a block of long dot products (dot_gemm_nt, im2col_small_gemm.h); large
// blocks use the packed GEMM (see kDotMaxWeightBlock). When units run in parallel each thread sums into its own
// copy of dw (so threads never write the same element) and the copies are added at the
// end; when those copies would be too large, units run in order with threaded kernels and
// accumulate into dw directly. The bias gradient is dy summed over N, OH, OW.
#include <string>

#include <algorithm>
#include <vector>

#include "cnnnative/conv.h"
#include "cnnnative/depthwise.h"
#include "cnnnative/errors.h"
#include "cnnnative/gemm.h"
#include "cnnnative/thread_pool.h"
#include "cnnnative/threads.h"
#include "conv/im2col.h"
#include "conv/im2col_small_gemm.h"
#include "conv/im2col_units.h"
#include "conv/winograd1d.h"

namespace cnnnative {
namespace {

// A weight block (Kg x CRS per group) up to this many elements goes to dot_gemm_nt;
// larger ones (AlexNet's 96 x 363, ResNet's 64 x 576 and up) to the packed GEMM.
// Measured with one thread: dot products 1.2-2.3x faster on LeNet's 16 x 150 and 6 x 25,
// 7x on depthwise 1 x 9, 1.05x on the 64 x 147 stem; the GEMM 1.03-1.08x on the large.
constexpr int64_t kDotMaxWeightBlock = 16384;

// dw_g = beta * dw_g + dy * cols^T by the packed GEMM (beta 1 accumulates, 0 stores).
void gemm(bool threaded, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda,
          const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  if (threaded)
    sgemm(false, true, M, N, K, 1.f, A, lda, B, ldb, beta, C, ldc);
  else
    sgemm_single_thread(false, true, M, N, K, 1.f, A, lda, B, ldb, beta, C, ldc);
}

// dot_gemm_nt with the columns of C (the weight's C/g*R*S taps) split across threads in
// whole 4-column blocks: each element is one member's dot product, the same on any team
// (so the region may run on the caller alone during a busy-machine back-off).
void dot_gemm_nt_threaded(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda,
                          const float* B, int64_t ldb, float* C, int64_t ldc) {
  run_team(cnnnative::num_threads(), [&](int t, int nt) {
    const int64_t blocks = (N + 3) / 4;  // whole 4-column blocks per thread
    const int64_t j0 = std::min(N, blocks * t / nt * 4), j1 = std::min(N, blocks * (t + 1) / nt * 4);
    if (j1 > j0) im2col::dot_gemm_nt(M, j1 - j0, K, A, lda, B + j0 * ldb, ldb, C + j0, ldc);
  });
}

// Sum of n floats in 16 independent partial sums: the compiler vectorises it without
// reassociating anything, and the error grows with n / 16 instead of n.
double sum_floats(const float* v, int64_t n) {
  constexpr int kLanes = 16;
  float part[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int l = 0; l < kLanes; ++l) part[l] += v[i + l];
  double sum = 0.0;
  for (; i < n; ++i) sum += v[i];
  for (int l = 0; l < kLanes; ++l) sum += part[l];
  return sum;
}

void bias_gradient(const ConvParams& p, const float* dy, float* db) {
  const int64_t P = p.output_h() * p.output_w();
  team_for_each(cnnnative::num_threads(), p.K, [&](int64_t k) {
    double sum = 0.0;  // float64 across images: the sum runs over N*OH*OW terms
    for (int64_t n = 0; n < p.N; ++n) sum += sum_floats(dy + (n * p.K + k) * P, P);
    db[k] = static_cast<float>(sum);
  });
}

void weight_gradient(const ConvParams& p, const float* x, const float* dy, float* dw) {
  using namespace im2col;
  Plan plan = make_plan(p, Pass::backward_weight, num_threads());
  const int64_t dw_numel = p.weight_numel();  // make_plan keeps per-thread copies of it small

  const auto scratch = allocate_scratch(plan.slot_floats() * plan.workspace_slots());
  std::vector<float> partials;
  if (plan.parallel_units) partials.assign(size_t(dw_numel * plan.threads), 0.f);
  // dw is not zeroed first where every element is stored before it is added to: units in
  // parallel sum their copies into it at the end, and units in order on the packed GEMM
  // store their group's first product (beta 0; an 8 MB fill was 1.5% of a DCGAN
  // 512->256 training step). The dot products always accumulate.
  const bool packed_gemm = plan.Kg * plan.CRS > kDotMaxWeightBlock;
  if (!plan.parallel_units && !packed_gemm) std::fill(dw, dw + dw_numel, 0.f);
  std::vector<char> group_stored(size_t(p.groups), 0);  // units in order: group written once

  const int64_t HW = p.H * p.W;
  run_units(plan, [&](const Unit& u, int slot, bool threaded) {
    float* cols = scratch.get() + slot * plan.slot_floats();
    float* staging = cols + plan.column_floats;
    const float* xg = x + (u.n0 * p.C + u.g * plan.Cg) * HW;
    const int64_t p0 = u.oh0 * plan.OW, len = (u.oh1 - u.oh0) * plan.OW;
    const float* B = cols;     // the column matrix, CRS x reduction
    const float* A;            // dy, Kg x reduction
    int64_t ldb, lda, reduction;
    if (plan.pointwise) {
      B = xg + p0, ldb = HW;
      A = dy + (u.n0 * p.K + u.g * plan.Kg) * plan.P + p0, lda = plan.P, reduction = len;
    } else if (u.images() == 1) {
      im2col_band(p, xg, u.oh0, u.oh1, cols, len, threaded);
      ldb = len;
      A = dy + (u.n0 * p.K + u.g * plan.Kg) * plan.P + p0, lda = plan.P, reduction = len;
    } else {  // several whole images side by side: one GEMM reduces over all of them
      reduction = ldb = lda = u.images() * plan.P;
      for (int64_t i = 0; i < u.images(); ++i)
        im2col_band(p, xg + i * p.C * HW, 0, plan.OH, cols + i * plan.P, ldb, threaded);
      stack_images(plan, u, p.K, dy, staging);
      A = staging;
    }
    float* acc = (plan.parallel_units ? partials.data() + slot * dw_numel : dw) +
                 u.g * plan.Kg * plan.CRS;
    if (packed_gemm) {
      const bool first = !plan.parallel_units && !group_stored[size_t(u.g)];
      if (!plan.parallel_units) group_stored[size_t(u.g)] = 1;
      gemm(threaded, plan.Kg, plan.CRS, reduction, A, lda, B, ldb, first ? 0.f : 1.f, acc, plan.CRS);
    } else if (threaded)
      dot_gemm_nt_threaded(plan.Kg, plan.CRS, reduction, A, lda, B, ldb, acc, plan.CRS);
    else
      dot_gemm_nt(plan.Kg, plan.CRS, reduction, A, lda, B, ldb, acc, plan.CRS);
  });

  if (plan.parallel_units) {
    const int slots = plan.threads;
    team_for_each(cnnnative::num_threads(), dw_numel, [&](int64_t i) {
      float s = 0.f;
      for (int t = 0; t < slots; ++t) s += partials[size_t(t * dw_numel + i)];
      dw[i] = s;
    });
  }
}

}  // namespace

void conv2d_backward_weight(const ConvParams& p, const float* x, const float* dy, float* dw,
                            float* db) {
  p.validate();
  if (p.N == 0) {  // no images: both gradients are zero
    std::fill(dw, dw + p.weight_numel(), 0.f);
    if (db) std::fill(db, db + p.K, 0.f);
    return;
  }
  // Depthwise layers have one input channel per group: a direct kernel beats im2col's
  // thin GEMMs by far. A single-channel input with groups = 1 (a first layer on grey
  // images) also has one channel per group, but there im2col's one GEMM over all output
  // channels wins: measured 0.78 vs 5.8 ms (7x) on 64x1x28x28 -> 32 3x3, one thread.
  // CNNNATIVE_ALGO=im2col keeps every pass on im2col.
  const bool im2col_only = forced_conv_algorithm() == "im2col";
  if (!im2col_only && p.groups > 1 && depthwise_backward_weight(p, x, dy, dw, db)) return;
  // conv1d's 3-tap layers with many channels: 1-D Winograd (winograd1d.h) when "auto" picks it.
  if (im2col_only || !winograd1d::backward_weight(p, x, dy, dw)) weight_gradient(p, x, dy, dw);
  if (db) bias_gradient(p, dy, db);
}

}  // namespace cnnnative
