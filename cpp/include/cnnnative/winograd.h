// Winograd convolution F(m x m, 3 x 3) for 3x3 kernels, stride 1, dilation 1.
//
// Each output tile of m x m pixels is computed from an (m+2) x (m+2) input tile:
//   Y = A^T [ (G g G^T) (.) (B^T d B) ] A
// The elementwise products, summed over input channels, become (m+2)^2 independent
// GEMMs (K x C times C x tiles), so the multiply count per output drops from 9 to
// (m+2)^2/m^2: 4 (m=2), 2.25 (m=4), 1.78 (m=6) times fewer than direct convolution.
//
// Supported: any padding (also larger than the kernel, as the input gradient needs),
// groups (each group on its own), any N, C, K, H, W. Registered algorithms:
// "winograd2x2", "winograd4x4", "winograd6x6" and "winograd" (tile chosen by shape).
//
// Accuracy (float32, inputs and weights of unit scale, measured and asserted in
// tests/test_conv_fast.py as max |err| / (max|x| * max|w| * sqrt(C*9))):
//   measured (C up to 512):  im2col 1.2e-7  F(2x2) 1.2e-7  F(4x4) 1.9e-6  F(6x6) 3.6e-6
//   asserted bounds:                         F(2x2) 1e-6    F(4x4) 8e-6    F(6x6) 2e-5
// The transforms multiply by up to 5.25 (F(6x6)) and the output transform by up
// to 32, which is where the larger error of big tiles comes from.
//
// Inference keeps transformed weights: winograd_prepare() once, then
// winograd_forward_prepared() per call, optionally with a fused epilogue.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "cnnnative/conv_params.h"

namespace cnnnative {

// What can run after the convolution inside the output transform, in this order:
//   out = activation(conv + bias[k] + residual[n, k, oh, ow])
// ReLU and ReLU6 are applied by each kernel's own store code; the others by the active
// ISA's elementwise kernels on each block right after it is stored (act/epilogue_activation.h).
// prelu: x > 0 ? x : slope[k] * x, with one slope per output channel or one shared.
enum class Activation { none = 0, relu = 1, relu6 = 2, silu = 3, hardswish = 4, gelu = 5, gelu_tanh = 6,
                        sigmoid = 7, prelu = 8, hardsigmoid = 9 };
struct ConvEpilogue {
  const float* bias = nullptr;      // [K] or null
  const float* residual = nullptr;  // [N, K, OH, OW] or null (may not alias the output)
  Activation activation = Activation::none;
  const float* slope = nullptr;     // prelu: `slopes` values, 1 (shared) or K (per channel)
  int64_t slopes = 0;
};

// Filters transformed once: per group and per transform point, a K/g x C/g matrix packed
// in blocks of 12 rows x 16 channels for the GEMM microkernels. Memory: groups * (m+2)^2 *
// ceil(K/g/12) * (12 * ceil(C/g/16)*16 + 16) floats, i.e. about (m+2)^2/9 = 1.8x (m=2),
// 4x (m=4), 7.1x (m=6) the original weights, plus one byte per original weight.
struct WinogradWeights {
  int tile = 0;                // m: 2, 4 or 6
  int64_t K = 0, C_per_group = 0, groups = 0;
  std::vector<float> packed;
  // For the NaN/inf rule (conv/nonfinite.h). finite: no filter value is NaN or inf.
  // Finite filters keep only each OIHW tap's sign (-1, 0, +1): an output whose window
  // holds inf is +-inf or NaN by the signs of the taps that meet it, whatever the rest.
  // Non-finite filters (every output is computed directly) keep the OIHW copy instead.
  bool finite = true;
  std::vector<int8_t> tap_signs;
  std::vector<float> oihw;
  size_t bytes() const { return (packed.size() + oihw.size()) * sizeof(float) + tap_signs.size(); }
};

// True when Winograd F(tile x tile, 3x3) can run `p`; otherwise the reason in *why.
bool winograd_supports(const ConvParams& p, int tile, std::string* why);

// Transforms w[K, C/g, 3, 3] (OIHW). ValueError when the shape is unsupported.
WinogradWeights winograd_prepare(const ConvParams& p, const float* w, int tile);

// y[N, K, OH, OW] = epilogue(conv(x, w)); NaN and inf give what the direct sum gives (only
// in the outputs whose window holds them), as every algorithm does. The weights must come from winograd_prepare
// for the same K, C, groups. Threads: the library's (do not call inside a parallel region).
void winograd_forward_prepared(const ConvParams& p, const WinogradWeights& w, const float* x,
                               float* y, const ConvEpilogue& epilogue = {});

// The same with a caller-provided workspace (allocates nothing), run by `threads`
// threads: `workspace` must hold winograd_prepared_workspace_bytes(p', w.tile, threads)
// bytes for some p' with the same shape and N >= p.N (ValueError when it is smaller);
// its contents on entry do not matter. Used by the inference engine's arena.
void winograd_forward_prepared(const ConvParams& p, const WinogradWeights& w, const float* x, float* y,
                               const ConvEpilogue& epilogue, float* workspace, size_t workspace_bytes,
                               int threads);

// Workspace bytes of the variant above (transformed tiles of one chunk of the image).
size_t winograd_prepared_workspace_bytes(const ConvParams& p, int tile, int threads);

// Scratch bytes a forward call allocates (transformed tiles of one chunk of the image,
// plus the transformed weights when they are not prepared).
size_t winograd_workspace_bytes(const ConvParams& p, int tile, bool weights_prepared);

// The tile "winograd" (no size) uses for this shape.
int winograd_default_tile(const ConvParams& p);

}  // namespace cnnnative
