// Index helpers shared by the implicit-GEMM convolution passes: the ConvParams fields the
// kernels need, copied into a trivially-copyable struct passed by value to the device.
#pragma once
#include <cstdint>

#include "cnnnative/conv_params.h"

namespace cnnnative {
namespace cuda {

struct ConvGeometry {
  int64_t N, C, H, W, K, R, S, OH, OW;
  int64_t sh, sw, dh, dw, pt, pl;
  int64_t Cg, Kg;  // channels per group in and out

  static ConvGeometry from(const ConvParams& p) {
    ConvGeometry g;
    g.N = p.N; g.C = p.C; g.H = p.H; g.W = p.W; g.K = p.K; g.R = p.R; g.S = p.S;
    g.OH = p.output_h(); g.OW = p.output_w();
    g.sh = p.stride_h; g.sw = p.stride_w; g.dh = p.dilation_h; g.dw = p.dilation_w;
    g.pt = p.pad_top; g.pl = p.pad_left;
    g.Cg = p.C / p.groups; g.Kg = p.K / p.groups;
    return g;
  }
};

}  // namespace cuda
}  // namespace cnnnative
