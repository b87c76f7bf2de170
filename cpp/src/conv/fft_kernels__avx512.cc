// Tiled-FFT kernels compiled for avx512 (see fft_kernels_impl.h).
#define FFT_ISA_NS isa_avx512
#include "fft_kernels_impl.h"

namespace cnnnative {
namespace fft {
const Kernels& kernels_avx512(int T) { return isa_avx512::table(T); }
}  // namespace fft
}  // namespace cnnnative
