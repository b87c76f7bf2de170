// Sub-pixel phase filter transform compiled for avx2 (see conv_transpose_subpixel_filter_kernels_impl.h).
#define PHASE_FILTER_ISA_NS phase_filter_avx2
#include "conv_transpose_subpixel_filter_kernels_impl.h"

namespace cnnnative {
namespace subpixel {
const PhaseFilterKernels& phase_filter_kernels_avx2() { return phase_filter_avx2::table(); }
}  // namespace subpixel
}  // namespace cnnnative
