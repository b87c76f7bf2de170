// Tiled FFT convolution (overlap-save) for larger kernels, stride 1, dilation 1.
//
// The padded input is cut into T x T windows (T = 8 or 16) that overlap by R-1 rows and
// S-1 columns; each window's 2-D real DFT (T x (T/2+1) complex points) is multiplied by
// the conjugate DFT of the zero-padded filter and summed over input channels — one
// complex GEMM per frequency, run as two real GEMMs on [re; im] stacked channels — and
// the inverse DFT's first (T-R+1) x (T-S+1) points are the valid correlation outputs.
// Registered as "fft8", "fft16" and "fft" (T chosen by kernel size), forward and input
// gradient. Strided or dilated convolutions are rejected (ValueError with the reason):
// computing every stride-1 output to keep one in stride^2 loses to im2col.
//
// Error (normalised as in winograd.h): measured ~8e-8 for windows 8 and 16, asserted
// <= 1e-6 in tests/test_conv_fast.py; the DFT's entries are bounded by 1, so unlike
// Winograd the transforms do not amplify rounding.
#pragma once
#include <string>

#include "cnnnative/conv_params.h"

namespace cnnnative {

// True when tiled FFT with T x T windows (T = 8 or 16) can run p; otherwise the reason.
bool fft_supports(const ConvParams& p, int T, std::string* why);

}  // namespace cnnnative
