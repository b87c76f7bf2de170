// The "im2col" convolution algorithm: forward and input gradient as GEMMs over column
// matrices built one band of output rows at a time (see im2col.h). Runs every shape:
// any stride, dilation, 4-way padding and groups (depthwise included).
#include <algorithm>
#include <vector>

#include "cnnnative/conv.h"
#include "cnnnative/gemm.h"
#include "cnnnative/threads.h"
#include "conv/im2col.h"
#include "conv/im2col_units.h"

namespace cnnnative {
namespace im2col {
namespace {

void gemm(bool threaded, bool ta, bool tb, int64_t M, int64_t N, int64_t K, const float* A,
          int64_t lda, const float* B, int64_t ldb, float* C, int64_t ldc,
          const GemmEpilogue& epilogue = GemmEpilogue::none()) {
  if (threaded)
    sgemm_ex(ta, tb, M, N, K, 1.f, A, lda, B, ldb, 0.f, C, ldc, epilogue);
  else
    sgemm_ex_single_thread(ta, tb, M, N, K, 1.f, A, lda, B, ldb, 0.f, C, ldc, epilogue);
}

bool supports(const ConvParams&, std::string*) { return true; }

// y[n, g] band = w_g * cols (+ bias).
void forward(const ConvParams& p, const float* x, const float* w, const float* bias, float* y) {
  const Plan plan = make_plan(p, Pass::forward, num_threads());
  std::vector<float> scratch;
  allocate_scratch(scratch, plan.workspace_floats * plan.workspace_slots());
  const int64_t HW = p.H * p.W;
  run_units(plan, [&](const Unit& u, int slot, bool threaded) {
    const float* xg = x + (u.n * p.C + u.g * plan.Cg) * HW;
    const int64_t p0 = u.oh0 * plan.OW, len = (u.oh1 - u.oh0) * plan.OW;
    const float* cols;
    int64_t ldb;
    if (plan.pointwise) {  // the input rows are the column matrix already
      cols = xg + p0;
      ldb = HW;
    } else {
      float* ws = scratch.data() + slot * plan.workspace_floats;
      im2col_band(p, xg, u.oh0, u.oh1, ws, threaded);
      cols = ws;
      ldb = len;
    }
    float* yg = y + (u.n * p.K + u.g * plan.Kg) * plan.P + p0;
    // The bias is added by the GEMM's epilogue while C is still in registers.
    GemmEpilogue epilogue;
    epilogue.row_bias = bias ? bias + u.g * plan.Kg : nullptr;
    gemm(threaded, false, false, plan.Kg, len, plan.CRS, w + u.g * plan.Kg * plan.CRS, plan.CRS,
         cols, ldb, yg, plan.P, epilogue);
  });
}

// dx[n, g] = col2im(w_g^T * dy[n, g]), band by band. A unit here is a whole (n, g): its
// bands overlap in dx, so they run in order inside the unit.
void backward_input(const ConvParams& p, const float* dy, const float* w, float* dx) {
  Plan plan = make_plan(p, Pass::backward_input, num_threads());
  const int64_t bands = plan.bands;
  plan.bands = 1;  // units are (n, g); the loop below walks the bands
  std::vector<float> scratch;
  allocate_scratch(scratch, plan.workspace_floats * plan.workspace_slots());
  const int64_t HW = p.H * p.W, Cg = plan.Cg;
  run_units(plan, [&](const Unit& u, int slot, bool threaded) {
    float* dxg = dx + (u.n * p.C + u.g * Cg) * HW;
    const float* dyg = dy + (u.n * p.K + u.g * plan.Kg) * plan.P;
    const float* wg = w + u.g * plan.Kg * plan.CRS;
    if (plan.pointwise) {  // dx_g = w_g^T * dy_g directly
      gemm(threaded, true, false, Cg, plan.P, plan.Kg, wg, plan.CRS, dyg, plan.P, dxg, HW);
      return;
    }
    std::fill(dxg, dxg + Cg * HW, 0.f);
    float* ws = scratch.data() + slot * plan.workspace_floats;
    for (int64_t b = 0; b < bands; ++b) {
      const int64_t oh0 = b * plan.band_rows, oh1 = std::min(plan.OH, oh0 + plan.band_rows);
      const int64_t p0 = oh0 * plan.OW, len = (oh1 - oh0) * plan.OW;
      gemm(threaded, true, false, plan.CRS, len, plan.Kg, wg, plan.CRS, dyg + p0, plan.P, ws, len);
      col2im_band(p, ws, oh0, oh1, dxg, threaded);
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
