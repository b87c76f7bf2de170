// Inference max pooling (no indices) as two separable passes over each NCHW plane: every
// input row is reduced to its OW column-window maxima once, then each output row takes
// the maxima of its kernel_h reduced rows. Consecutive output rows of an overlapping
// window (kernel 3, stride 2) share reduced rows, so each input element is read once.
//
// Taps are combined in the row-major order of the window with "take the new tap if it is
// greater or NaN", exactly as pool_body.inl's max_rows does: the first maximum wins (so
// -0.0 / +0.0 ties keep the earlier one) and any NaN in a window makes the output NaN.
//
// Only for dilation 1 and windows that each hold at least one input element (padding
// smaller than the kernel, last window starting inside the input): max_separable_applies.
#pragma once
#include <cstdint>

namespace cnnnative {

struct MaxPoolWindow {
  int64_t H = 0, W = 0, OH = 0, OW = 0;
  int64_t kernel_h = 1, kernel_w = 1, stride_h = 1, stride_w = 1;
  int64_t pad_top = 0, pad_left = 0;  // bottom/right padding follows from OH, OW
};

struct MaxPoolSeparableKernels {
  // Input row r (W floats) -> OW window maxima h.
  void (*reduce_row)(const MaxPoolWindow& w, const float* r, float* h);
  // Output row oh from the reduced rows (OW floats apart) of its window.
  void (*combine_rows)(const MaxPoolWindow& w, const float* reduced, int64_t oh, float* out);
  // n whole planes of a window max_unpadded_applies takes; reduced: 2 * H * OW floats. Null
  // where the ISA has none (only AVX-512 has).
  void (*planes_unpadded)(const MaxPoolWindow& w, const float* x, float* y, int64_t n, float* reduced);
};

extern const MaxPoolSeparableKernels max_pool_separable_scalar;
extern const MaxPoolSeparableKernels max_pool_separable_avx2;
extern const MaxPoolSeparableKernels max_pool_separable_avx512;

bool max_separable_applies(const MaxPoolWindow& w);
// Windows of planes_unpadded: stride 2 across with 2 or 3 columns, no padding, every window
// inside the input (Inception's and GoogLeNet's 3x3 / 2 pools without ceil overhang).
bool max_unpadded_applies(const MaxPoolWindow& w);

// planes NCHW planes of H x W -> OH x OW, parallel over planes on `threads` threads
// (a team is opened only when there is enough work).
void max_pool2d_separable(const MaxPoolWindow& w, const float* x, float* y, int64_t planes, int threads);

}  // namespace cnnnative
