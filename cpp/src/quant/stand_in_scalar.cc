// SCALAR STAND-IN for the int8 kernels of cnnnative/quant.h, written on branch int8q so
// the int8 engine nodes run and can be tested before branch int8k's real kernels land.
// Delete this file when merging int8k (which implements the same declarations).
#include <cstring>

#include "cnnnative/quant.h"

namespace cnnnative {
namespace quant {

PackedWeightsS8 pack_weights_s8(const int8_t* w, int64_t M, int64_t K) {
  PackedWeightsS8 p;
  p.M = M;
  p.K = K;
  p.data.assign(w, w + M * K);
  p.row_sums.assign(size_t(M), 0);
  for (int64_t m = 0; m < M; ++m)
    for (int64_t k = 0; k < K; ++k) p.row_sums[size_t(m)] += w[m * K + k];
  return p;
}

void gemm_s8u8_s32(const PackedWeightsS8& w, int64_t N, const uint8_t* x, int64_t ldx, int32_t* c, int64_t ldc) {
  const int64_t M = w.M, K = w.K;
  for (int64_t m = 0; m < M; ++m) {
    int32_t* cm = c + m * ldc;
    std::memset(cm, 0, sizeof(int32_t) * size_t(N));
    const int8_t* wm = w.data.data() + m * K;
    for (int64_t k = 0; k < K; ++k) {
      const int32_t a = wm[k];
      if (a == 0) continue;
      const uint8_t* xk = x + k * ldx;
      for (int64_t n = 0; n < N; ++n) cm[n] += a * int32_t(xk[n]);
    }
  }
}

const char* int8_isa() { return "scalar"; }

}  // namespace quant
}  // namespace cnnnative
