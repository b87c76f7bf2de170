// Max, average and global-average pooling over NCHW planes, parallel over (image, channel).

#include <algorithm>
#include <cmath>
#include <exception>
#include <limits>
#include <vector>

#include "cnnnative/thread_pool.h"
#include "engine/kernels.h"
#include "pool/global_avg_pool.h"
#include "pool/max_pool_separable.h"
#include "pool/pool.h"

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

// max(a, b) that returns NaN when either is NaN, as PyTorch's max pool does. Written as
// two selects without || (which compiles to branches that random data mispredicts): the
// first is a plain max that keeps a NaN `a`, the second restores a NaN `b`.
inline float max_keep_nan(float a, float b) {
  const float m = b > a ? b : a;
  return b != b ? b : m;
}

// The column pass of the two most common windows (3x3 and 2x2, stride 2) with constant
// offsets, which the compiler vectorises with even/odd shuffles.
void columns_3_stride_2(const float* row, int64_t out, float* y) {
  for (int64_t o = 0; o < out; ++o)
    y[o] = max_keep_nan(row[2 * o + 2], max_keep_nan(row[2 * o + 1], row[2 * o]));
}
void columns_2_stride_2(const float* row, int64_t out, float* y) {
  for (int64_t o = 0; o < out; ++o) y[o] = max_keep_nan(row[2 * o + 1], row[2 * o]);
}

// Undilated windows that each hold an input element run the shared separable kernel
// (pool/max_pool_separable.h, also behind ops.max_pool2d). The rest (dilation, ONNX pads
// that leave a window empty) take the path below.
// Two passes per output row, both over contiguous memory: the rows of the window are
// reduced into one padded row (vectorised), then each output takes the max of its kw
// columns of that row. The row carries -inf in its padding, so the column pass needs no
// bounds checks. (The generic window loop with per-pixel bounds took 0.7 ms on ResNet's
// 64 x 112 x 112 stem output; this takes a fraction.)
void max_pool_forward(const Node& n, int64_t batch, const float* x, float* y, int threads) {
  const PoolWindow& w = n.pool;
  const int64_t C = n.in_shape[1], H = n.in_shape[2], W = n.in_shape[3];
  const int64_t OH = n.out_shape[2], OW = n.out_shape[3];
  const int64_t planes = batch * C;
  MaxPoolWindow sep;
  sep.H = H, sep.W = W, sep.OH = OH, sep.OW = OW;
  sep.kernel_h = w.kh, sep.kernel_w = w.kw, sep.stride_h = w.sh, sep.stride_w = w.sw;
  sep.pad_top = w.pad_top, sep.pad_left = w.pad_left;
  if (w.dh == 1 && w.dw == 1 && max_separable_applies(sep)) {
    max_pool2d_separable(sep, x, y, planes, threads);  // each input element read once
    return;
  }
  // The padded row: column iw of the image sits at iw + pad_left; everything else is -inf.
  const int64_t row_len = std::max(w.pad_left + W, (OW - 1) * w.sw + (w.kw - 1) * w.dw + 1);
  constexpr float kLow = -std::numeric_limits<float>::infinity();
  DynamicChunks chunks(planes, 4);
  run_team(threads, [&](int, int) {
    thread_local std::vector<float> row;  // grows once, then reused by every call
    if (int64_t(row.size()) < row_len) row.resize(size_t(row_len));
    float* padded = row.data();
    std::fill(padded, padded + row_len, kLow);
    float* image_part = padded + w.pad_left;
    int64_t first_plane, end_plane;
    while (chunks.next(&first_plane, &end_plane))
    for (int64_t plane = first_plane; plane < end_plane; ++plane) {
      const float* xp = x + plane * H * W;
      float* yp = y + plane * OH * OW;
      for (int64_t oh = 0; oh < OH; ++oh) {
        int64_t r0, r1;
        valid_taps(oh, w.sh, w.pad_top, w.dh, w.kh, H, &r0, &r1);
        const float* xrow = xp + (oh * w.sh - w.pad_top) * W;
        if (r1 == r0) {
          std::fill(image_part, image_part + W, kLow);
        } else {
          const float* first = xrow + r0 * w.dh * W;
          std::copy(first, first + W, image_part);
          for (int64_t r = r0 + 1; r < r1; ++r) {
            const float* xr = xrow + r * w.dh * W;
            for (int64_t iw = 0; iw < W; ++iw) image_part[iw] = max_keep_nan(xr[iw], image_part[iw]);
          }
        }
        float* yr = yp + oh * OW;
        if (w.sw == 2 && w.dw == 1 && w.kw == 3)
          columns_3_stride_2(padded, OW, yr);
        else if (w.sw == 2 && w.dw == 1 && w.kw == 2)
          columns_2_stride_2(padded, OW, yr);
        else
          for (int64_t ow = 0; ow < OW; ++ow) {
            const float* win = padded + ow * w.sw;
            float m = win[0];
            for (int64_t s = 1; s < w.kw; ++s) m = max_keep_nan(win[s * w.dw], m);
            yr[ow] = m;
          }
      }
    }
  });
}

namespace {
// PyTorch's pooled size along one axis (the eager op's own rule, pool/pool.h), or -1 where
// that rule has no output for it (never thrown from a run).
int64_t torch_output_size(int64_t in, int64_t k, int64_t pad, int64_t stride, bool ceil_mode) {
  try {
    return pool_output_size(in, k, pad, stride, 1, ceil_mode, "avg_pool", "size");
  } catch (const std::exception&) {
    return -1;
  }
}
}  // namespace

void avg_pool_forward(const Node& n, int64_t batch, const float* x, float* y, int threads) {
  const PoolWindow& w = n.pool;
  const int64_t C = n.in_shape[1], H = n.in_shape[2], W = n.in_shape[3];
  const int64_t OH = n.out_shape[2], OW = n.out_shape[3];
  const int64_t planes = batch * C;
  // PyTorch's windows (symmetric padding, ceil mode as a flag): the eager op's vector
  // kernels (pool/pool.h), threaded over output rows. DenseNet's 2x2 transitions took
  // 0.8 ms in the loop below, which the baseline ISA compiles to scalar code. Inception's
  // 3x3 / 1 / 1 branch pools take the separable kernel there (pool/avg_pool_same3.h).
  if (w.pad_top == w.pad_bottom && w.pad_left == w.pad_right && torch_output_size(H, w.kh, w.pad_top, w.sh, w.ceil_mode) == OH &&
      torch_output_size(W, w.kw, w.pad_left, w.sw, w.ceil_mode) == OW) {
    PoolParams q;
    q.N = batch, q.C = C, q.H = H, q.W = W, q.OH = OH, q.OW = OW;
    q.kernel_h = w.kh, q.kernel_w = w.kw, q.stride_h = w.sh, q.stride_w = w.sw;
    q.pad_h = w.pad_top, q.pad_w = w.pad_left;
    q.ceil_mode = w.ceil_mode, q.count_include_pad = w.count_include_pad;
    avg_pool2d_forward(q, x, y);
    return;
  }
  team_for_each_dynamic(threads, planes, 4, [&](int64_t plane) {
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
  });
}

void global_avg_pool_forward(const Node& n, int64_t batch, const float* x, float* y, int threads) {
  const int64_t C = n.in_shape[1], HW = n.in_shape[2] * n.in_shape[3];
  // The ISA's vector sums (pool/global_avg_pool.h), in the order the baseline loop used.
  global_avg_pool_planes(x, batch * C, HW, y, threads);
}

}  // namespace engine
}  // namespace cnnnative
