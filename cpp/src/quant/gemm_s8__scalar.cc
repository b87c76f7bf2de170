// The scalar int8 GEMM kernel: the exact reference every other kernel is tested against,
// and the path for CPUs without AVX2. Plain int32 arithmetic; the compiler may vectorise.
#include <cstring>

#include "quant/gemm_s8_kernels.h"

namespace cnnnative::quant::detail {
namespace {

constexpr int kMr = 4, kNr = 16;

void pack_x(const uint8_t* x, int64_t ldx, int64_t k_rows, int64_t nc, void* dst) {
  auto* d = static_cast<uint8_t*>(dst);
  for (int64_t k = 0; k < k_rows; ++k, d += kNr) {
    std::memcpy(d, x + k * ldx, static_cast<size_t>(nc));
    std::memset(d + nc, 0, static_cast<size_t>(kNr - nc));
  }
}

void tile(int64_t groups, const void* wp, const void* xp, int32_t* c, int64_t ldc, int64_t mrows,
          int64_t ncols, bool accumulate) {
  const auto* w = static_cast<const int8_t*>(wp);
  const auto* x = static_cast<const uint8_t*>(xp);
  int32_t acc[kMr * kNr] = {};
  for (int64_t k = 0; k < groups; ++k, w += kMr, x += kNr)
    for (int i = 0; i < kMr; ++i)
      for (int j = 0; j < kNr; ++j) acc[i * kNr + j] += static_cast<int32_t>(w[i]) * static_cast<int32_t>(x[j]);
  store_tile(acc, kNr, c, ldc, mrows, ncols, accumulate);
}

}  // namespace

const S8Kernel& s8_kernel_scalar() {
  static const S8Kernel k{"scalar", 0, kMr, kNr, 1, 1, 1, 256, pack_x, tile};
  return k;
}

}  // namespace cnnnative::quant::detail
