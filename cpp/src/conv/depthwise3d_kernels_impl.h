// Body of the depthwise 3-D plane kernels (depthwise3d_kernels.h), included once per ISA
// with DEPTHWISE3D_ISA_NS set. Stride-1 outputs are computed 16 at a time in two 8-float
// GCC vector-extension registers held across all the taps, so each output is loaded and
// stored once instead of once per tap. (A plain 16-element array was measured 4-5x
// slower: GCC vectorised the loop but kept the sums in memory.) The vector type is 8
// floats (AVX) on the AVX2/AVX-512 builds and 4 (SSE2) on the baseline one.
#include <cstdint>
#include <cstring>

#include "conv/depthwise3d_kernels.h"

namespace cnnnative {
namespace conv3d {
namespace DEPTHWISE3D_ISA_NS {
namespace {

constexpr int kLanes = 16;

#ifdef __AVX__
constexpr int kVec = 8;
#else
constexpr int kVec = 4;
#endif
typedef float vec __attribute__((vector_size(4 * kVec)));
inline vec load_vec(const float* p) {
  vec v;
  std::memcpy(&v, p, sizeof v);  // unaligned load
  return v;
}
inline void store_vec(float* p, vec v) { std::memcpy(p, &v, sizeof v); }

// Stride 1: kOutputs (a multiple of kVec) outputs starting at x0, sums in registers.
template <int kOutputs>
inline void gather_vector(const PlaneGeometry& g, const float* x0, const float* w, float bias, float* y) {
  constexpr int kChunks = kOutputs / kVec;
  const int64_t plane = g.HP * g.WP;
  vec acc[kChunks];
  for (int j = 0; j < kChunks; ++j) acc[j] = vec{} + bias;
  const float* wt = w;
  for (int64_t kt = 0; kt < g.T; ++kt) {
    for (int64_t kr = 0; kr < g.R; ++kr) {
      const float* xr = x0 + kt * g.dd * plane + kr * g.dh * g.WP;
      for (int64_t ks = 0; ks < g.S; ++ks) {
        const vec wv = vec{} + *wt++;
        const float* xs = xr + ks * g.dw;
        for (int j = 0; j < kChunks; ++j) acc[j] += wv * load_vec(xs + kVec * j);
      }
    }
  }
  for (int j = 0; j < kChunks; ++j) store_vec(y + kVec * j, acc[j]);
}

// n (kFixed, or n_rt when kFixed == 0) outputs of one row starting at x0 (the padded
// input under tap (0, 0, 0) of the first output).
template <bool kUnitStride, int kFixed>
inline void gather_run(const PlaneGeometry& g, const float* x0, const float* w, float bias,
                       float* y, int64_t n_rt) {
  const int64_t n = kFixed ? kFixed : n_rt;
  const int64_t plane = g.HP * g.WP, sw = kUnitStride ? 1 : g.sw;
  float acc[kLanes];
  for (int64_t i = 0; i < n; ++i) acc[i] = bias;
  const float* wt = w;
  for (int64_t kt = 0; kt < g.T; ++kt) {
    for (int64_t kr = 0; kr < g.R; ++kr) {
      const float* xr = x0 + kt * g.dd * plane + kr * g.dh * g.WP;
      for (int64_t ks = 0; ks < g.S; ++ks) {
        const float wv = *wt++;
        const float* xs = xr + ks * g.dw;
        for (int64_t i = 0; i < n; ++i) acc[i] += wv * xs[i * sw];
      }
    }
  }
  for (int64_t i = 0; i < n; ++i) y[i] = acc[i];
}

template <bool kUnitStride>
void gather_rows(const PlaneGeometry& g, const float* xp, const float* w, float bias, float* y) {
  const int64_t plane = g.HP * g.WP, sw = kUnitStride ? 1 : g.sw;
  for (int64_t od = 0; od < g.OD; ++od) {
    for (int64_t oh = 0; oh < g.OH; ++oh) {
      const float* x0 = xp + od * g.sd * plane + oh * g.sh * g.WP;
      float* yr = y + (od * g.OH + oh) * g.OW;
      int64_t ow = 0;
      if (kUnitStride) {
        for (; ow + 16 <= g.OW; ow += 16) gather_vector<16>(g, x0 + ow, w, bias, yr + ow);
        for (; ow + 8 <= g.OW; ow += 8) gather_vector<8>(g, x0 + ow, w, bias, yr + ow);
      } else {
        for (; ow + kLanes <= g.OW; ow += kLanes)
          gather_run<kUnitStride, kLanes>(g, x0 + ow * sw, w, bias, yr + ow, kLanes);
      }
      if (ow < g.OW) gather_run<kUnitStride, 0>(g, x0 + ow * sw, w, bias, yr + ow, g.OW - ow);
    }
  }
}

void gather(const PlaneGeometry& g, const float* xp, const float* w, float bias, float* y) {
  if (g.sw == 1)
    gather_rows<true>(g, xp, w, bias, y);
  else
    gather_rows<false>(g, xp, w, bias, y);
}

void scatter(const PlaneGeometry& g, const float* dy, const float* w, float* dxp) {
  const int64_t plane = g.HP * g.WP;
  for (int64_t od = 0; od < g.OD; ++od) {
    for (int64_t oh = 0; oh < g.OH; ++oh) {
      const float* __restrict dyr = dy + (od * g.OH + oh) * g.OW;
      const float* wt = w;
      for (int64_t kt = 0; kt < g.T; ++kt) {
        for (int64_t kr = 0; kr < g.R; ++kr) {
          float* dr = dxp + (od * g.sd + kt * g.dd) * plane + (oh * g.sh + kr * g.dh) * g.WP;
          for (int64_t ks = 0; ks < g.S; ++ks) {
            const float wv = *wt++;
            float* __restrict d = dr + ks * g.dw;
            if (g.sw == 1)
              for (int64_t ow = 0; ow < g.OW; ++ow) d[ow] += wv * dyr[ow];
            else
              for (int64_t ow = 0; ow < g.OW; ++ow) d[ow * g.sw] += wv * dyr[ow];
          }
        }
      }
    }
  }
}

// sum over one output depth slice of dy * xp for one tap, in 16 float lanes (a slice
// is at most OH*OW terms, so each lane sums OH*OW/16 of them) plus a float tail.
template <bool kUnitStride>
double weight_slice(const PlaneGeometry& g, const float* dy, const float* xs0) {
  const int64_t sw = kUnitStride ? 1 : g.sw;
  float lanes[kLanes] = {};
  float tail = 0.f;
  for (int64_t oh = 0; oh < g.OH; ++oh) {
    const float* dyr = dy + oh * g.OW;
    const float* xs = xs0 + oh * g.sh * g.WP;
    int64_t ow = 0;
    for (; ow + kLanes <= g.OW; ow += kLanes)
      for (int l = 0; l < kLanes; ++l) lanes[l] += dyr[ow + l] * xs[(ow + l) * sw];
    for (; ow < g.OW; ++ow) tail += dyr[ow] * xs[ow * sw];
  }
  double sum = tail;
  for (int l = 0; l < kLanes; ++l) sum += lanes[l];
  return sum;
}

template <bool kUnitStride>
void weight_taps(const PlaneGeometry& g, const float* xp, const float* dy, double* dw) {
  const int64_t plane = g.HP * g.WP;
  double* dwt = dw;
  for (int64_t kt = 0; kt < g.T; ++kt)
    for (int64_t kr = 0; kr < g.R; ++kr)
      for (int64_t ks = 0; ks < g.S; ++ks, ++dwt) {
        double sum = 0.0;
        for (int64_t od = 0; od < g.OD; ++od) {
          const float* xs0 = xp + (od * g.sd + kt * g.dd) * plane + kr * g.dh * g.WP + ks * g.dw;
          sum += weight_slice<kUnitStride>(g, dy + od * g.OH * g.OW, xs0);
        }
        *dwt += sum;
      }
}

void weight(const PlaneGeometry& g, const float* xp, const float* dy, double* dw) {
  if (g.sw == 1)
    weight_taps<true>(g, xp, dy, dw);
  else
    weight_taps<false>(g, xp, dy, dw);
}

}  // namespace

const DepthwiseKernels& table() {
  static const DepthwiseKernels kernels{&gather, &scatter, &weight};
  return kernels;
}

}  // namespace DEPTHWISE3D_ISA_NS
}  // namespace conv3d
}  // namespace cnnnative
