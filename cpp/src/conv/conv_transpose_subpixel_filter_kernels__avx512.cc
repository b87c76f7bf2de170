// Sub-pixel phase filter transform compiled for avx512 (see conv_transpose_subpixel_filter_kernels_impl.h).
#define PHASE_FILTER_ISA_NS phase_filter_avx512
#include "conv_transpose_subpixel_filter_kernels_impl.h"

namespace cnnnative {
namespace subpixel {
const PhaseFilterKernels& phase_filter_kernels_avx512() { return phase_filter_avx512::table(); }
}  // namespace subpixel
}  // namespace cnnnative
