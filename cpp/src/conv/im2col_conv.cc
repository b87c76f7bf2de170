// The "im2col" convolution algorithm: forward and input gradient as GEMMs over column
// matrices built one band of output rows at a time (see im2col.h). Runs every shape:
// any stride, dilation, 4-way padding and groups (depthwise included).
#include <algorithm>
#include <vector>

#include "cnnnative/conv.h"
#include "cnnnative/gemm.h"
#include "cnnnative/isa.h"
#include "cnnnative/threads.h"
#include "conv/im2col.h"
#include "conv/im2col_small_gemm.h"
#include "conv/im2col_units.h"
#include "gemm/prepacked.h"

namespace cnnnative {
namespace im2col {
namespace {

// C = op(A) * B (+ epilogue row bias), C write-only. Thin products (depthwise layers)
// skip the packed GEMM, whose 14x32 tile they would mostly leave empty.
void gemm(bool threaded, bool ta, bool tb, int64_t M, int64_t N, int64_t K, const float* A,
          int64_t lda, const float* B, int64_t ldb, float* C, int64_t ldc,
          const GemmEpilogue& epilogue = GemmEpilogue::none()) {
  if (!tb && M <= kAxpyGemmMaxM && K <= kAxpyGemmMaxK) {
    axpy_gemm(M, N, K, A, ta ? 1 : lda, ta ? lda : 1, B, ldb, C, ldc, epilogue.row_bias);
    return;
  }
  // Short products (LeNet's 16 x 800 x 150 forward, 150 x 800 x 16 input gradient):
  // packing B would cost about as much as the product. Single-threaded, so not for a
  // unit that should use all threads; the epilogue at most a row bias (the forward's).
  if (!tb && use_short_gemm(M, K) && active_isa() == Isa::avx512 &&
      (!threaded || num_threads() == 1) && !epilogue.col_bias && !epilogue.has_clamp()) {
    short_gemm_avx512(M, N, K, A, ta ? 1 : lda, ta ? lda : 1, B, ldb, C, ldc, epilogue.row_bias);
    return;
  }
  // Few output pixels (<= 128), a deep unfold (ResNet's 7x7 stage): pixels x channels in
  // 7-row tiles, which pad 49 pixels not at all (sgemm's 16-wide columns pad them to 64).
  if (!ta && !tb && use_small_n_gemm(active_isa(), M, N, K) && !epilogue.col_bias && !epilogue.has_clamp()) {
    sgemm_small_n(threaded, M, N, K, A, lda, B, ldb, C, ldc, epilogue.row_bias);
    return;
  }
  if (threaded)
    sgemm_ex(ta, tb, M, N, K, 1.f, A, lda, B, ldb, 0.f, C, ldc, epilogue);
  else
    sgemm_ex_single_thread(ta, tb, M, N, K, 1.f, A, lda, B, ldb, 0.f, C, ldc, epilogue);
}

bool supports(const ConvParams&, std::string*) { return true; }

// y[n, g] band = w_g * cols (+ bias).
void forward(const ConvParams& p, const float* x, const float* w, const float* bias, float* y) {
  const Plan plan = make_plan(p, Pass::forward, num_threads());
  const auto scratch = allocate_scratch(plan.slot_floats() * plan.workspace_slots());
  const int64_t HW = p.H * p.W;
  run_units(plan, [&](const Unit& u, int slot, bool threaded) {
    float* cols = scratch.get() + slot * plan.slot_floats();
    float* staging = cols + plan.column_floats;
    const int64_t p0 = u.oh0 * plan.OW, len = (u.oh1 - u.oh0) * plan.OW;
    const int64_t ld = u.images() * len;  // row stride of the column matrix
    const float* wg = w + u.g * plan.Kg * plan.CRS;
    const float* xg = x + (u.n0 * p.C + u.g * plan.Cg) * HW;
    // The bias is added by the GEMM's epilogue while C is still in registers.
    GemmEpilogue epilogue;
    epilogue.row_bias = bias ? bias + u.g * plan.Kg : nullptr;
    float* yg = y + (u.n0 * p.K + u.g * plan.Kg) * plan.P + p0;
    if (plan.pointwise) {  // the input rows are the column matrix already
      gemm(threaded, false, false, plan.Kg, len, plan.CRS, wg, plan.CRS, xg + p0, HW, yg, plan.P,
           epilogue);
    } else {
      // The column matrix: one band of one image, or several whole images side by side.
      if (u.images() == 1) {
        im2col_band(p, xg, u.oh0, u.oh1, cols, ld, threaded);
      } else {
        for (int64_t i = 0; i < u.images(); ++i)
          im2col_band(p, xg + i * p.C * HW, 0, plan.OH, cols + i * plan.P, ld, threaded);
      }
      if (u.images() == 1) {
        gemm(threaded, false, false, plan.Kg, len, plan.CRS, wg, plan.CRS, cols, ld, yg, plan.P,
             epilogue);
      } else {  // output staged as Kg x (images * P), then copied to each image
        gemm(threaded, false, false, plan.Kg, ld, plan.CRS, wg, plan.CRS, cols, ld, staging, ld,
             epilogue);
        unstack_images(plan, u, p.K, staging, y);
      }
    }
  });
}

// dx[n, g] = col2im(w_g^T * dy[n, g]). A unit here is whole images: bands of one image
// overlap in dx, so they run in order inside the unit.
void backward_input(const ConvParams& p, const float* dy, const float* w, float* dx) {
  Plan plan = make_plan(p, Pass::backward_input, num_threads());
  const int64_t bands = plan.bands;
  plan.bands = 1;  // units are (images, g); the loop below walks the bands
  const auto scratch = allocate_scratch(plan.slot_floats() * plan.workspace_slots());
  const int64_t HW = p.H * p.W, Cg = plan.Cg;
  run_units(plan, [&](const Unit& u, int slot, bool threaded) {
    float* cols = scratch.get() + slot * plan.slot_floats();
    float* staging = cols + plan.column_floats;
    float* dxg = dx + (u.n0 * p.C + u.g * Cg) * HW;
    const float* dyg = dy + (u.n0 * p.K + u.g * plan.Kg) * plan.P;
    const float* wg = w + u.g * plan.Kg * plan.CRS;
    if (plan.pointwise) {  // dx_g = w_g^T * dy_g directly
      gemm(threaded, true, false, Cg, plan.P, plan.Kg, wg, plan.CRS, dyg, plan.P, dxg, HW);
      return;
    }
    if (u.images() > 1) {  // several whole images side by side
      const int64_t ld = u.images() * plan.P;
      stack_images(plan, u, p.K, dy, staging);
      gemm(threaded, true, false, plan.CRS, ld, plan.Kg, wg, plan.CRS, staging, ld, cols, ld);
      for (int64_t i = 0; i < u.images(); ++i) {
        float* dxi = dxg + i * p.C * HW;
        std::fill(dxi, dxi + Cg * HW, 0.f);
        col2im_band(p, cols + i * plan.P, ld, 0, plan.OH, dxi, threaded);
      }
      return;
    }
    std::fill(dxg, dxg + Cg * HW, 0.f);
    for (int64_t b = 0; b < bands; ++b) {
      const int64_t oh0 = b * plan.band_rows, oh1 = std::min(plan.OH, oh0 + plan.band_rows);
      const int64_t p0 = oh0 * plan.OW, len = (oh1 - oh0) * plan.OW;
      gemm(threaded, true, false, plan.CRS, len, plan.Kg, wg, plan.CRS, dyg + p0, plan.P, cols, len);
      col2im_band(p, cols, len, oh0, oh1, dxg, threaded);
    }
  });
}

size_t workspace_bytes(const ConvParams& p) { return forward_workspace_bytes(p); }

}  // namespace
}  // namespace im2col

CNNNATIVE_REGISTER_CONV_ALGORITHM(im2col, ConvAlgorithm{"im2col", &im2col::supports,
                                                        &im2col::forward, &im2col::backward_input,
                                                        &im2col::workspace_bytes});

}  // namespace cnnnative
