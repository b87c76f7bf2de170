// Tiled-FFT kernels compiled for scalar (see fft_kernels_impl.h).
#define FFT_ISA_NS isa_scalar
#include "fft_kernels_impl.h"

namespace cnnnative {
namespace fft {
const Kernels& kernels_scalar(int T) { return isa_scalar::table(T); }
}  // namespace fft
}  // namespace cnnnative
