// Tiled FFT convolution (overlap-save) for larger kernels, stride 1, dilation 1.
//
// The padded input is cut into T x T windows (T = 8 or 16) that overlap by R-1 rows and
// S-1 columns; each window's 2-D real DFT (radix-2 butterflies, 32 windows as vector
// lanes; fft_kernels_impl.h) is multiplied by the conjugate DFT of the zero-padded
// filter and summed over input channels — per frequency one complex GEMM, run as three
// real GEMMs (Gauss's trick) — and the inverse DFT's first (T-R+1) x (T-S+1) points are
// the valid correlation outputs. Registered as "fft8", "fft16" and "fft" (window chosen
// by fft_estimated_ms), forward and input gradient. Strided or dilated convolutions are
// rejected (ValueError with the reason): computing every stride-1 output to keep one in
// stride^2 loses to im2col.
//
// Error (normalised as in winograd.h): measured ~5e-8 for windows 8 and 16 (kernels
// 3x3..11x11), asserted <= 1e-6 in tests/test_conv_fast.py; the DFT's entries are
// bounded by 1, so unlike Winograd the transforms do not amplify rounding.
#pragma once
#include <string>

#include "cnnnative/conv_params.h"

namespace cnnnative {

// True when tiled FFT with T x T windows (T = 8 or 16) can run p; otherwise the reason.
bool fft_supports(const ConvParams& p, int T, std::string* why);

// Estimated single-thread time in ms of tiled FFT with T x T windows on p (a cost model
// fitted on measured layers, see fft.cc): picks the window of "fft" and lets
// choose_conv_algorithm weigh FFT against im2col.
double fft_estimated_ms(const ConvParams& p, int T);

// The window (8 or 16) with the lower estimate among those that support p; 0 if none.
int fft_default_window(const ConvParams& p);

}  // namespace cnnnative
