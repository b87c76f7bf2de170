// pixel_shuffle / pixel_unshuffle / channel_shuffle: permutations of the elements, done as
// row copies (r rows zipped into one, or whole planes moved), one output plane (or input
// plane) per work item on the library's threads.
#include <cstring>

#include "act/isa_table.h"
#include "act/parallel.h"
#include "resample/resample.h"

namespace cnnnative {
namespace {

const ResampleKernels& kernels() {
  return table_for_active_isa(resample_kernels_scalar, resample_kernels_avx2, resample_kernels_avx512);
}

constexpr int64_t kGrainElements = 16384;
constexpr int64_t kMaxFactor = 64;  // the bindings refuse larger factors (one row pointer each)

int64_t grain(int64_t elements_per_item) {
  return elements_per_item >= kGrainElements ? 1 : kGrainElements / (elements_per_item > 0 ? elements_per_item : 1);
}

}  // namespace

// y[o, c, h r + i, w r + j] = x[o, c r r + i r + j, h, w]: each output row (h, i) zips the
// r input rows h of channels c r r + i r + j, j < r.
void pixel_shuffle(const float* x, float* y, int64_t outer, int64_t c, int64_t h, int64_t w, int64_t r) {
  const int64_t in_plane = h * w, out_plane = in_plane * r * r;
  parallel_for(outer * c, grain(out_plane), [&](int64_t begin, int64_t end) {
    const ResampleKernels& k = kernels();
    const float* src[kMaxFactor];
    for (int64_t p = begin; p < end; ++p) {
      const float* in = x + p * out_plane;  // the r*r input planes of output plane p
      float* out = y + p * out_plane;
      for (int64_t row = 0; row < h; ++row)
        for (int64_t i = 0; i < r; ++i) {
          for (int64_t j = 0; j < r; ++j) src[j] = in + (i * r + j) * in_plane + row * w;
          k.interleave(src, r, out + (row * r + i) * w * r, w);
        }
    }
  });
}

// The inverse: y[o, c r r + i r + j, h, w] = x[o, c, h r + i, w r + j].
void pixel_unshuffle(const float* x, float* y, int64_t outer, int64_t c, int64_t h, int64_t w, int64_t r) {
  const int64_t out_plane = h * w, in_plane = out_plane * r * r;
  parallel_for(outer * c, grain(in_plane), [&](int64_t begin, int64_t end) {
    const ResampleKernels& k = kernels();
    float* dst[kMaxFactor];
    for (int64_t p = begin; p < end; ++p) {
      const float* in = x + p * in_plane;
      float* out = y + p * in_plane;  // the r*r output planes of input plane p
      for (int64_t row = 0; row < h; ++row)
        for (int64_t i = 0; i < r; ++i) {
          for (int64_t j = 0; j < r; ++j) dst[j] = out + (i * r + j) * out_plane + row * w;
          k.deinterleave(in + (row * r + i) * w * r, r, dst, w);
        }
    }
  });
}

// Output channel i*g + j is input channel j*(C/g) + i: (g, C/g) transposed to (C/g, g).
void channel_shuffle(const float* x, float* y, int64_t n, int64_t c, int64_t hw, int64_t groups) {
  const int64_t per_group = c / groups;
  parallel_for(n * c, grain(hw), [&](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; ++p) {
      const int64_t b = p / c, k = p % c;  // output channel k = i*g + j
      const int64_t i = k / groups, j = k % groups;
      std::memcpy(y + p * hw, x + (b * c + j * per_group + i) * hw, sizeof(float) * hw);
    }
  });
}

}  // namespace cnnnative
