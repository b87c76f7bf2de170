// The squeeze-and-excitation scale y = x * s[:, :, None, None]: one plane per work item,
// a vectorised multiply forward, a multiply and a dot product backward.
#include "act/isa_table.h"
#include "act/parallel.h"
#include "resample/resample.h"

namespace cnnnative {
namespace {

const ResampleKernels& kernels() {
  return table_for_active_isa(resample_kernels_scalar, resample_kernels_avx2, resample_kernels_avx512);
}

int64_t plane_grain(int64_t hw) { return hw >= 32768 ? 1 : 32768 / (hw > 0 ? hw : 1); }

}  // namespace

void channel_scale_forward(const float* x, const float* s, float* y, int64_t planes, int64_t hw) {
  parallel_for(planes, plane_grain(hw), [&](int64_t begin, int64_t end) {
    const ResampleKernels& k = kernels();
    for (int64_t p = begin; p < end; ++p) k.scale(x + p * hw, s[p], y + p * hw, hw);
  });
}

void channel_scale_forward_serial(const float* x, const float* s, float* y, int64_t planes, int64_t hw) {
  const ResampleKernels& k = kernels();
  for (int64_t p = 0; p < planes; ++p) k.scale(x + p * hw, s[p], y + p * hw, hw);
}

void channel_scale_backward(const float* gy, const float* x, const float* s, float* gx, float* gs,
                            int64_t planes, int64_t hw) {
  parallel_for(planes, plane_grain(hw), [&](int64_t begin, int64_t end) {
    const ResampleKernels& k = kernels();
    for (int64_t p = begin; p < end; ++p) {
      if (gx) k.scale(gy + p * hw, s[p], gx + p * hw, hw);
      if (gs) gs[p] = k.dot(gy + p * hw, x + p * hw, hw);
    }
  });
}

}  // namespace cnnnative
