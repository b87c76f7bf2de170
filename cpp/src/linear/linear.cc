// linear forward / backward on sgemm (see linear/linear.h).
#include "linear/linear.h"

#include "act/isa_table.h"
#include "act/parallel.h"
#include "cnnnative/gemm.h"

namespace cnnnative {
namespace {

constexpr int64_t kGrainElements = 32768;

const BiasKernels& kernels() {
  return table_for_active_isa(bias_kernels_scalar, bias_kernels_avx2, bias_kernels_avx512);
}

int64_t grain(int64_t per_item) { return per_item >= kGrainElements ? 1 : kGrainElements / per_item; }

void fill_zero(float* p, int64_t n) {
  parallel_for(n, kGrainElements, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) p[i] = 0.0f;
  });
}

}  // namespace

void linear_forward(const float* x, const float* w, const float* bias, float* y, int64_t N, int64_t in,
                    int64_t out) {
  if (N == 0 || out == 0) return;
  if (in == 0)
    fill_zero(y, N * out);  // an empty sum; sgemm need not handle K == 0
  else
    sgemm(false, true, N, out, in, 1.0f, x, in, w, in, 0.0f, y, out);
  if (bias) {
    const BiasKernels& k = kernels();
    parallel_for(N, grain(out), [&](int64_t b, int64_t e) { k.add_rows(y + b * out, bias, e - b, out); });
  }
}

void linear_backward(const float* gy, const float* x, const float* w, float* gx, float* gw, float* gb,
                     int64_t N, int64_t in, int64_t out) {
  // grad_input (N, in) = gy (N, out) @ W (out, in)
  if (gx && N > 0 && in > 0) {
    if (out == 0)
      fill_zero(gx, N * in);
    else
      sgemm(false, false, N, in, out, 1.0f, gy, out, w, in, 0.0f, gx, in);
  }
  // grad_weight (out, in) = gy^T (out, N) @ x (N, in)
  if (gw && out > 0 && in > 0) {
    if (N == 0)
      fill_zero(gw, out * in);
    else
      sgemm(true, false, out, in, N, 1.0f, gy, out, x, in, 0.0f, gw, in);
  }
  // grad_bias (out) = column sums of gy; threads take blocks of columns.
  if (gb && out > 0) {
    const BiasKernels& k = kernels();
    const int64_t rows = N;
    parallel_for(out, grain(rows > 0 ? rows : 1), [&](int64_t b, int64_t e) {
      k.column_sums(gy, rows, out, b, e, gb + b);
    });
  }
}

}  // namespace cnnnative
