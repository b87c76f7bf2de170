// Tiled-FFT kernels compiled for avx2 (see fft_kernels_impl.h).
#define FFT_ISA_NS isa_avx2
#include "fft_kernels_impl.h"

namespace cnnnative {
namespace fft {
const Kernels& kernels_avx2(int T) { return isa_avx2::table(T); }
}  // namespace fft
}  // namespace cnnnative
