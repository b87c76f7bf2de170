// Temporary: scalar until the AVX-512 plane kernel lands.
#include "quant/depthwise_s8_kernels.h"
namespace cnnnative::quant::detail {
void dw_plane_avx512(const ConvParams& p, const uint8_t* xp, int64_t ld, const int8_t* w, int32_t* y) {
  dw_plane_scalar(p, xp, ld, w, y);
}
}  // namespace cnnnative::quant::detail
