// Depthwise kernels, written once and compiled per ISA (include only from the
// depthwise_kernels*.cc files, after defining DEPTHWISE_ISA_NS). The inner loops run
// over contiguous output pixels of a row; with stride 1 the input is contiguous as
// well and the compiler emits full-width vector FMAs.
#include "depthwise_kernels.h"

#ifndef DEPTHWISE_ISA_NS
#error "define DEPTHWISE_ISA_NS before including depthwise_kernels_impl.h"
#endif

namespace cnnnative {
namespace depthwise {
namespace DEPTHWISE_ISA_NS {

// One row: acc[ow] += wv * in[ow*stride] for ow in [0, n). Stride 1 gets its own loop so
// it vectorises without gathers.
inline void axpy_row(float* __restrict acc, const float* __restrict in, float wv, int64_t n, int64_t stride) {
  if (stride == 1) {
    for (int64_t i = 0; i < n; ++i) acc[i] += wv * in[i];
  } else if (stride == 2) {
    for (int64_t i = 0; i < n; ++i) acc[i] += wv * in[2 * i];
  } else {
    for (int64_t i = 0; i < n; ++i) acc[i] += wv * in[i * stride];
  }
}

inline void forward_plane_rows(const ConvParams& p, const float* x, const float* w, float bias, float* y) {
  const int64_t OH = p.output_h(), OW = p.output_w();
  for (int64_t oh = 0; oh < OH; ++oh) {
    float* row = y + oh * OW;
    for (int64_t ow = 0; ow < OW; ++ow) row[ow] = bias;
    for (int64_t r = 0; r < p.R; ++r) {
      const int64_t ih = oh * p.stride_h - p.pad_top + r * p.dilation_h;
      if (ih < 0 || ih >= p.H) continue;
      const float* xrow = x + ih * p.W;
      for (int64_t s = 0; s < p.S; ++s) {
        const int64_t off = s * p.dilation_w - p.pad_left;
        int64_t lo, hi;
        valid_range(OW, p.W, p.stride_w, off, &lo, &hi);
        if (hi > lo) axpy_row(row + lo, xrow + lo * p.stride_w + off, w[r * p.S + s], hi - lo, p.stride_w);
      }
    }
  }
}

typedef float v16 __attribute__((vector_size(64)));
typedef float v16u __attribute__((vector_size(64), aligned(4)));

// One output pixel with every bound checked (the image border).
inline float forward_pixel(const ConvParams& p, const float* x, const float* w, float bias, int64_t oh,
                           int64_t ow) {
  float acc = bias;
  for (int64_t r = 0; r < p.R; ++r) {
    const int64_t ih = oh * p.stride_h - p.pad_top + r * p.dilation_h;
    if (ih < 0 || ih >= p.H) continue;
    for (int64_t s = 0; s < p.S; ++s) {
      const int64_t iw = ow - p.pad_left + s * p.dilation_w;
      if (iw >= 0 && iw < p.W) acc += w[r * p.S + s] * x[ih * p.W + iw];
    }
  }
  return acc;
}

// V accumulators of 16 pixels each: out[0..16V) = bias + sum over the taps, kept in
// registers across all R*S taps (one store per pixel instead of one per tap).
template <int V>
inline void forward_chunk(const ConvParams& p, const float* x, const float* w, float bias, int64_t oh,
                          int64_t ow0, float* out) {
  v16 acc[V];
  for (int v = 0; v < V; ++v) acc[v] = v16{} + bias;
  for (int64_t r = 0; r < p.R; ++r) {
    const int64_t ih = oh * p.stride_h - p.pad_top + r * p.dilation_h;
    if (ih < 0 || ih >= p.H) continue;
    const float* src = x + ih * p.W + ow0 - p.pad_left;
    for (int64_t s = 0; s < p.S; ++s) {
      const float wv = w[r * p.S + s];
      const float* q = src + s * p.dilation_w;
      for (int v = 0; v < V; ++v) acc[v] += wv * *reinterpret_cast<const v16u*>(q + 16 * v);
    }
  }
  for (int v = 0; v < V; ++v) *reinterpret_cast<v16u*>(out + 16 * v) = acc[v];
}

inline void forward_plane(const ConvParams& p, const float* x, const float* w, float bias, float* y) {
  const int64_t OH = p.output_h(), OW = p.output_w();
  // Columns whose every tap is inside the row: ow - pad_left >= 0 and
  // ow - pad_left + (S-1)*dilation <= W-1.
  int64_t lo = p.pad_left < OW ? p.pad_left : OW;
  int64_t hi = p.W - (p.S - 1) * p.dilation_w + p.pad_left;
  hi = hi < lo ? lo : (hi > OW ? OW : hi);
  if (p.stride_w != 1 || hi - lo < 16) {  // strided or narrow: accumulate tap by tap
    forward_plane_rows(p, x, w, bias, y);
    return;
  }
  for (int64_t oh = 0; oh < OH; ++oh) {
    float* row = y + oh * OW;
    for (int64_t ow = 0; ow < lo; ++ow) row[ow] = forward_pixel(p, x, w, bias, oh, ow);
    int64_t ow = lo;
    for (; ow + 64 <= hi; ow += 64) forward_chunk<4>(p, x, w, bias, oh, ow, row + ow);
    for (; ow + 16 <= hi; ow += 16) forward_chunk<1>(p, x, w, bias, oh, ow, row + ow);
    if (ow < hi) forward_chunk<1>(p, x, w, bias, oh, hi - 16, row + hi - 16);  // overlaps; same values
    for (ow = hi; ow < OW; ++ow) row[ow] = forward_pixel(p, x, w, bias, oh, ow);
  }
}

inline void backward_input_plane(const ConvParams& p, const float* dy, const float* w, float* dx) {
  const int64_t OH = p.output_h(), OW = p.output_w();
  const int64_t sw = p.stride_w;
  for (int64_t oh = 0; oh < OH; ++oh) {
    const float* dyrow = dy + oh * OW;
    for (int64_t r = 0; r < p.R; ++r) {
      const int64_t ih = oh * p.stride_h - p.pad_top + r * p.dilation_h;
      if (ih < 0 || ih >= p.H) continue;
      float* dxrow = dx + ih * p.W;
      for (int64_t s = 0; s < p.S; ++s) {
        const int64_t off = s * p.dilation_w - p.pad_left;
        int64_t lo, hi;
        valid_range(OW, p.W, sw, off, &lo, &hi);
        const float wv = w[r * p.S + s];
        float* __restrict out = dxrow + lo * sw + off;
        const float* __restrict in = dyrow + lo;
        const int64_t n = hi - lo;
        if (sw == 1) {
          for (int64_t i = 0; i < n; ++i) out[i] += wv * in[i];
        } else {
          for (int64_t i = 0; i < n; ++i) out[i * sw] += wv * in[i];
        }
      }
    }
  }
}

inline void backward_weight_plane(const ConvParams& p, const float* x, const float* dy, float* dw) {
  const int64_t OH = p.output_h(), OW = p.output_w();
  const int64_t sw = p.stride_w;
  for (int64_t r = 0; r < p.R; ++r) {
    for (int64_t s = 0; s < p.S; ++s) {
      const int64_t off = s * p.dilation_w - p.pad_left;
      int64_t lo, hi;
      valid_range(OW, p.W, sw, off, &lo, &hi);
      const int64_t n = hi - lo;
      double total = 0.0;  // rows summed in float, the (few hundred) row sums in double
      for (int64_t oh = 0; oh < OH; ++oh) {
        const int64_t ih = oh * p.stride_h - p.pad_top + r * p.dilation_h;
        if (ih < 0 || ih >= p.H || n <= 0) continue;
        const float* __restrict a = dy + oh * OW + lo;
        const float* __restrict b = x + ih * p.W + lo * sw + off;
        // 16 partial sums (lanewise, so the compiler vectorises without reassociating).
        float lanes[16] = {};
        int64_t i = 0;
        if (sw == 1) {
          for (; i + 16 <= n; i += 16)
            for (int l = 0; l < 16; ++l) lanes[l] += a[i + l] * b[i + l];
        }
        float acc = 0.f;
        for (; i < n; ++i) acc += a[i] * b[i * sw];
        for (int l = 0; l < 16; ++l) acc += lanes[l];
        total += acc;
      }
      dw[r * p.S + s] += static_cast<float>(total);
    }
  }
}

inline const Kernels& table() {
  static const Kernels k{&forward_plane, &backward_input_plane, &backward_weight_plane};
  return k;
}

}  // namespace DEPTHWISE_ISA_NS
}  // namespace depthwise
}  // namespace cnnnative
