// Sub-pixel phase filter transform compiled for scalar (see conv_transpose_subpixel_filter_kernels_impl.h).
#define PHASE_FILTER_ISA_NS phase_filter_scalar
#include "conv_transpose_subpixel_filter_kernels_impl.h"

namespace cnnnative {
namespace subpixel {
const PhaseFilterKernels& phase_filter_kernels_scalar() { return phase_filter_scalar::table(); }
}  // namespace subpixel
}  // namespace cnnnative
