// Resampling (torch.nn.functional.interpolate) and channel-layout permutations
// (pixel_shuffle / pixel_unshuffle / channel_shuffle) and the per-channel scale of a
// squeeze-and-excitation block, NC(D)(H)W float32, forward and backward.
//
// Interpolation is separable: every spatial axis gets a table (built once per call) of
// where each output index reads from -- one source index (nearest modes) or two and their
// weights (linear modes) -- computed with exactly PyTorch's float32 rules (see
// resample_tables.cc). The drivers run one plane (one (n, c)) per work item on the
// library's threads; the per-ISA row kernels below do the inner loops. Backward passes
// accumulate plane by plane on one thread each: deterministic, no atomics.
//
// The structs are plain data because the per-ISA files include this header.
#pragma once
#include <cstdint>
#include <vector>

namespace cnnnative {

enum class ResampleMode { nearest, nearest_exact, linear };

// One spatial axis: input and output length, and the user's scale_factor for it (0 when
// the output size was given, or the scale is to be recomputed from the sizes).
struct ResampleAxis {
  int64_t in = 1, out = 1;
  double scale = 0.0;
};

// Always three spatial axes (D, H, W); a 1-D or 2-D resampling has length-1 leading axes.
struct ResampleParams {
  int64_t planes = 0;  // N * C
  ResampleAxis axis[3];
  ResampleMode mode = ResampleMode::nearest;
  bool align_corners = false;
};

// Where one axis reads from. Nearest modes fill i0 only; linear modes fill all four
// (i1 == i0 at the last input index, as PyTorch).
struct AxisTable {
  std::vector<int32_t> i0, i1;
  std::vector<float> l0, l1;
};

// Checks sizes (ValueError / OverflowError naming them); `op` names the caller.
void validate_resample(const ResampleParams& p, const char* op);
AxisTable resample_axis_table(const ResampleAxis& a, ResampleMode mode, bool align_corners);

// Inner loops, one table per ISA. All rows are contiguous float arrays of length n.
struct ResampleKernels {
  void (*gather)(const float* in, const int32_t* idx, float* out, int64_t n);   // out[o] = in[idx[o]]
  void (*duplicate2)(const float* in, float* out, int64_t n_in);                // out[2i] = out[2i+1] = in[i]
  void (*scatter_add)(const float* g, const int32_t* idx, float* out, int64_t n);  // out[idx[o]] += g[o]
  void (*pair_sum)(const float* g, float* out, int64_t n_out);                  // out[i] += g[2i] + g[2i+1]
  void (*lerp)(const float* in, const int32_t* i0, const int32_t* i1, const float* l0, const float* l1,
               float* out, int64_t n);                                          // out[o] = l0 in[i0] + l1 in[i1]
  void (*lerp_transpose)(const float* g, const int32_t* i0, const int32_t* i1, const float* l0,
                         const float* l1, float* out, int64_t n);               // out[i0] += l0 g; out[i1] += l1 g
  void (*blend)(const float* a, float wa, const float* b, float wb, float* out, int64_t n);  // wa a + wb b
  void (*axpy)(float w, const float* a, float* out, int64_t n);                 // out += w a
  void (*add)(const float* a, float* out, int64_t n);                           // out += a
  void (*scale)(const float* x, float s, float* out, int64_t n);                // out = s x (out may be x)
  float (*dot)(const float* a, const float* b, int64_t n);
  void (*interleave)(const float* const* src, int64_t r, float* out, int64_t n);    // out[w r + j] = src[j][w]
  void (*deinterleave)(const float* in, int64_t r, float* const* dst, int64_t n);   // dst[j][w] = in[w r + j]
};

extern const ResampleKernels resample_kernels_scalar;
extern const ResampleKernels resample_kernels_avx2;
extern const ResampleKernels resample_kernels_avx512;

// Threaded entry points (GIL released by the caller). x: planes x in-volume, y: planes x
// out-volume; the backward writes every element of gx.
void resample_forward(const ResampleParams& p, const float* x, float* y);
void resample_backward(const ResampleParams& p, const float* gy, float* gx);

// (outer, C*r*r, H, W) -> (outer, C, H*r, W*r), and its inverse.
void pixel_shuffle(const float* x, float* y, int64_t outer, int64_t c, int64_t h, int64_t w, int64_t r);
void pixel_unshuffle(const float* x, float* y, int64_t outer, int64_t c, int64_t h, int64_t w, int64_t r);
// (N, C, hw) with channel k = j*(C/g) + i moved to i*g + j.
void channel_shuffle(const float* x, float* y, int64_t n, int64_t c, int64_t hw, int64_t groups);

// y[p, :] = x[p, :] * s[p] over planes of hw (y may be x); the gradients gx = gy * s and
// gs[p] = dot(gy[p, :], x[p, :]) (either may be null when not wanted).
void channel_scale_forward(const float* x, const float* s, float* y, int64_t planes, int64_t hw);
// The same on the calling thread, the kernel looked up once (the engine's small nodes:
// MobileNet-v3's 960 planes of 7x7 paid ~10 ns of dispatch per plane).
void channel_scale_forward_serial(const float* x, const float* s, float* y, int64_t planes, int64_t hw);
void channel_scale_backward(const float* gy, const float* x, const float* s, float* gx, float* gs,
                            int64_t planes, int64_t hw);

}  // namespace cnnnative
