// Max, average and global-average pooling over NCHW planes, parallel over (image, channel).
#include <omp.h>

#include <cmath>
#include <limits>

#include "engine/kernels.h"

namespace cnnnative {
namespace engine {

namespace {
// Kernel taps [lo, hi) whose input index o*stride - pad + k*dil lies in [0, n).
inline void valid_taps(int64_t o, int64_t stride, int64_t pad, int64_t dil, int64_t k, int64_t n, int64_t* lo,
                       int64_t* hi) {
  const int64_t start = o * stride - pad;
  *lo = start >= 0 ? 0 : (-start + dil - 1) / dil;
  *hi = start >= n ? 0 : std::min(k, (n - 1 - start) / dil + 1);
  if (*hi < *lo) *hi = *lo;
}
}  // namespace

void max_pool_forward(const Node& n, int64_t batch, const float* x, float* y, int threads) {
  const PoolWindow& w = n.pool;
  const int64_t C = n.in_shape[1], H = n.in_shape[2], W = n.in_shape[3];
  const int64_t OH = n.out_shape[2], OW = n.out_shape[3];
  const int64_t planes = batch * C;
#pragma omp parallel for num_threads(threads) schedule(dynamic, 4)
  for (int64_t plane = 0; plane < planes; ++plane) {
    const float* xp = x + plane * H * W;
    float* yp = y + plane * OH * OW;
    for (int64_t oh = 0; oh < OH; ++oh) {
      int64_t r0, r1;
      valid_taps(oh, w.sh, w.pad_top, w.dh, w.kh, H, &r0, &r1);
      const float* xrow = xp + (oh * w.sh - w.pad_top) * W;
      for (int64_t ow = 0; ow < OW; ++ow) {
        int64_t s0, s1;
        valid_taps(ow, w.sw, w.pad_left, w.dw, w.kw, W, &s0, &s1);
        const float* xw = xrow + ow * w.sw - w.pad_left;
        float m = -std::numeric_limits<float>::infinity();
        bool nan = false;
        for (int64_t r = r0; r < r1; ++r)
          for (int64_t s = s0; s < s1; ++s) {
            const float v = xw[r * w.dh * W + s * w.dw];
            m = v > m ? v : m;
            nan |= v != v;  // NaN propagates, as in PyTorch
          }
        yp[oh * OW + ow] = nan ? std::numeric_limits<float>::quiet_NaN() : m;
      }
    }
  }
}

void avg_pool_forward(const Node& n, int64_t batch, const float* x, float* y, int threads) {
  const PoolWindow& w = n.pool;
  const int64_t C = n.in_shape[1], H = n.in_shape[2], W = n.in_shape[3];
  const int64_t OH = n.out_shape[2], OW = n.out_shape[3];
  const int64_t planes = batch * C;
#pragma omp parallel for num_threads(threads) schedule(dynamic, 4)
  for (int64_t plane = 0; plane < planes; ++plane) {
    const float* xp = x + plane * H * W;
    float* yp = y + plane * OH * OW;
    for (int64_t oh = 0; oh < OH; ++oh) {
      // PyTorch's divisor: the window clipped to the padded image (count_include_pad),
      // or to the image itself.
      const int64_t h0 = oh * w.sh - w.pad_top, h1p = std::min(h0 + w.kh, H + w.pad_bottom);
      const int64_t h0c = std::max<int64_t>(h0, 0), h1c = std::min(h0 + w.kh, H);
      for (int64_t ow = 0; ow < OW; ++ow) {
        const int64_t w0 = ow * w.sw - w.pad_left, w1p = std::min(w0 + w.kw, W + w.pad_right);
        const int64_t w0c = std::max<int64_t>(w0, 0), w1c = std::min(w0 + w.kw, W);
        float sum = 0.f;
        for (int64_t ih = h0c; ih < h1c; ++ih)
          for (int64_t iw = w0c; iw < w1c; ++iw) sum += xp[ih * W + iw];
        const int64_t count = w.count_include_pad ? (h1p - h0) * (w1p - w0)
                                                  : std::max<int64_t>((h1c - h0c) * (w1c - w0c), 0);
        yp[oh * OW + ow] = count > 0 ? sum / float(count) : 0.f;
      }
    }
  }
}

void global_avg_pool_forward(const Node& n, int64_t batch, const float* x, float* y, int threads) {
  const int64_t C = n.in_shape[1], HW = n.in_shape[2] * n.in_shape[3];
  const int64_t planes = batch * C;
#pragma omp parallel for num_threads(threads) schedule(dynamic, 4)
  for (int64_t plane = 0; plane < planes; ++plane) {
    const float* xp = x + plane * HW;
    float sum = 0.f;
    for (int64_t i = 0; i < HW; ++i) sum += xp[i];
    y[plane] = sum / float(HW);
  }
}

}  // namespace engine
}  // namespace cnnnative
