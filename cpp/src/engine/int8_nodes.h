// int8 engine nodes (internal): their parameters and kernels.
//
// Representation: a uint8 buffer holds q for the real value scale * (q - zero) (one scale
// and zero point per tensor, asymmetric). Weights are int8, symmetric per output channel.
//
// conv_int8 / linear_int8 output stage, per output channel k and pixel p, in this order
// (the numpy reference in tests/test_quantize_exact.py repeats it operation by operation):
//   acc   = sum_i W[k, i] * X[i, p]                  int32, exact (X: the raw uint8 q,
//                                                     padding holds in.zero)
//   acc  += corr[k]                                  int32, corr[k] = -in.zero * rowsum(W[k])
// uint8 output (out.scale, out.zero), the constants folded in double, rounded to float32:
//   a = mult[k] / out.scale;  b = bias[k] / out.scale + out.zero - res.zero * r_s
//   r_s = res.scale / out.scale (uint8 residual) or 1 / out.scale (float32 residual)
//   t     = float(acc) * a + b                       float32 (two roundings, no FMA)
//   t    += float(r) * r_s                           residual r: raw uint8 q, or float32
//   out   = rint(clamp(t, lo, 255)) (hi for relu6)   lo = out.zero for relu / relu6, else 0;
//                                                     hi = min(255, 6 / out.scale + out.zero);
//                                                     NaN -> lo; rint: half to even
// float32 output: the same with a = mult[k], b = bias[k] - res.zero * res.scale,
//   r_s = res.scale (uint8 residual) or 1, then relu max(t, 0) / relu6 min(max(t, 0), 6)
//   (NaN kept). silu, hardswish, gelu(_tanh), sigmoid, hardsigmoid: the float32 stage
//   without them, then the engine's float kernel (act/elementwise, as the eager op), then
//   for uint8 output rint(clamp(v * float32(1 / out.scale) + out.zero, 0, 255)) (as quantize).
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "cnnnative/engine.h"
#include "cnnnative/quant.h"

namespace cnnnative {
namespace engine {

using QParams = Plan::QParams;

// Output pixels per GEMM call of a conv_int8 (one work item; see int8_conv.cc).
constexpr int64_t kInt8PixelBlock = 256;

struct Int8TapsGeometry;

struct QuantNode {
  QParams in, out, res;
  bool out_u8 = true;
  bool res_u8 = false;
  // conv_int8 / linear_int8
  // GEMM weights (not depthwise): one per (group, block of m_block output channels),
  // index g * m_blocks + block, so threads can split the output channels too.
  std::vector<quant::PackedWeightsS8> packed;
  int64_t m_block = 0, m_blocks = 0;
  std::vector<int8_t> weight;                  // depthwise: (K, R*S) int8
  std::vector<int32_t> corr;                   // per output channel
  std::vector<float> mult, bias;               // per output channel
  int64_t K_gemm = 0;                          // rows of the unfolded matrix per group (C/g*R*S)
  bool depthwise = false;
  // Stride-1 R x S convs (not depthwise) run as an implicit GEMM over a zero-point-padded
  // copy of the image (quant::gemm_s8u8_s32_taps, or its 4-channel forms _c4 and _c4t on
  // AVX512-VNNI; int8_conv.cc): packed weight columns ordered (tap, channel), channels per
  // group rounded up to 4 with zero weights.
  bool taps = false;
  std::shared_ptr<const Int8TapsGeometry> taps_geometry;  // with taps (int8_taps_geometry.h)
  // concat_u8: one 256-entry table per input (input q -> output q)
  std::vector<std::vector<uint8_t>> tables;
  std::vector<int64_t> parts;  // elements per sample of each input
  std::vector<bool> identity;  // table i maps every q to itself (equal scales): a copy
};

inline bool is_int8_kind(OpKind k) { return int(k) >= int(OpKind::quantize); }

// Whether conv_int8 runs `p` as the implicit GEMM over padded taps, and its GEMM's
// columns (output pixels on the extended grid) per image (int8_conv.cc).
bool int8_conv_uses_taps(const ConvParams& p);
int64_t int8_taps_columns(const ConvParams& p);
// Whether the taps path runs `p` with lanes along M (quant::gemm_s8u8_s32_taps_c4t: weights
// packed by pack_weights_s8_lanes_m, exactly the output pixels computed): small images on
// AVX512-VNNI (int8_conv.cc). Such a conv runs the taps path whatever int8_conv_uses_taps says.
bool int8_conv_taps_lanes_m(const ConvParams& p);

// Scratch bytes of an int8 node for `threads` workers (0 for most).
int64_t int8_scratch_bytes(const Node& n, int threads);
int64_t int8_weight_bytes(const Node& n);

// Runs an int8 node: ins are its input buffers (uint8 or float32 as the node expects).
void int8_node_forward(const Node& n, int64_t batch, const std::vector<const void*>& ins, void* out,
                       void* scratch, int threads);

}  // namespace engine
}  // namespace cnnnative
