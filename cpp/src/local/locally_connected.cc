// Locally connected 2-D convolution: one small GEMM per output position (see the header).
#include "local/locally_connected.h"

#include <omp.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "cnnnative/errors.h"
#include "cnnnative/gemm.h"
#include "cnnnative/threads.h"

namespace cnnnative {

void finish_local_geometry(LocalGeometry& g) {
  CN_CHECK(g.N >= 0, "locally_connected2d: batch size must be >= 0, got ", g.N);
  CN_CHECK(g.C >= 1 && g.H >= 1 && g.W >= 1, "locally_connected2d: input must have C, H, W >= 1, got (",
           g.C, ", ", g.H, ", ", g.W, ")");
  CN_CHECK(g.K >= 1, "locally_connected2d: out_channels must be >= 1, got ", g.K);
  CN_CHECK(g.kH >= 1 && g.kW >= 1, "locally_connected2d: kernel_size must be positive, got (", g.kH, ", ",
           g.kW, ")");
  CN_CHECK(g.sH >= 1 && g.sW >= 1, "locally_connected2d: stride must be positive, got (", g.sH, ", ", g.sW,
           ")");
  CN_CHECK(g.pad_top >= 0 && g.pad_bottom >= 0 && g.pad_left >= 0 && g.pad_right >= 0,
           "locally_connected2d: padding must be >= 0, got (", g.pad_top, ", ", g.pad_bottom, ", ",
           g.pad_left, ", ", g.pad_right, ")");
  const int64_t padded_h = checked_add(checked_add(g.H, g.pad_top, "padded height"), g.pad_bottom, "padded height");
  const int64_t padded_w = checked_add(checked_add(g.W, g.pad_left, "padded width"), g.pad_right, "padded width");
  CN_CHECK(padded_h >= g.kH && padded_w >= g.kW, "locally_connected2d: kernel (", g.kH, ", ", g.kW,
           ") does not fit the padded input (", padded_h, ", ", padded_w, ")");
  g.OH = (padded_h - g.kH) / g.sH + 1;
  g.OW = (padded_w - g.kW) / g.sW + 1;
  // Every size the kernels index with, checked once here so the loops need no checks.
  const int64_t patch = checked_numel({g.C, g.kH, g.kW}, "locally_connected2d patch size");
  const int64_t positions = checked_mul(g.OH, g.OW, "locally_connected2d positions");
  checked_numel({positions, g.K, patch}, "locally_connected2d weight size");
  checked_numel({g.N, g.K, positions}, "locally_connected2d output size");
  checked_numel({g.N, g.C, g.H, g.W}, "locally_connected2d input size");
  checked_numel({g.N, patch}, "locally_connected2d patch buffer");
}

namespace {

// X (N x C*kH*kW) = the patches under output position (oh, ow); zero where they hang over
// the padding.
void gather_patches(const LocalGeometry& g, const float* input, int64_t oh, int64_t ow, float* X) {
  const int64_t patch = g.patch(), plane = g.H * g.W;
  const int64_t iw0 = ow * g.sW - g.pad_left;
  const bool row_inside = iw0 >= 0 && iw0 + g.kW <= g.W;
  for (int64_t n = 0; n < g.N; ++n) {
    for (int64_t c = 0; c < g.C; ++c) {
      const float* src = input + (n * g.C + c) * plane;
      float* dst = X + n * patch + c * g.kH * g.kW;
      for (int64_t ki = 0; ki < g.kH; ++ki, dst += g.kW) {
        const int64_t ih = oh * g.sH - g.pad_top + ki;
        if (ih < 0 || ih >= g.H) {
          std::fill(dst, dst + g.kW, 0.f);
        } else if (row_inside) {
          std::memcpy(dst, src + ih * g.W + iw0, sizeof(float) * g.kW);
        } else {
          for (int64_t kj = 0; kj < g.kW; ++kj) {
            const int64_t iw = iw0 + kj;
            dst[kj] = (iw >= 0 && iw < g.W) ? src[ih * g.W + iw] : 0.f;
          }
        }
      }
    }
  }
}

// The transpose of gather_patches, accumulating: band += dX's patches, where band holds
// input rows [row_lo, row_lo + band_rows) of every (n, c) plane.
void scatter_add_patches(const LocalGeometry& g, const float* dX, int64_t oh, int64_t ow, float* band,
                         int64_t row_lo, int64_t band_rows) {
  const int64_t patch = g.patch();
  const int64_t iw0 = ow * g.sW - g.pad_left;
  for (int64_t n = 0; n < g.N; ++n) {
    for (int64_t c = 0; c < g.C; ++c) {
      float* dst = band + (n * g.C + c) * band_rows * g.W;
      const float* src = dX + n * patch + c * g.kH * g.kW;
      for (int64_t ki = 0; ki < g.kH; ++ki, src += g.kW) {
        const int64_t ih = oh * g.sH - g.pad_top + ki;
        if (ih < 0 || ih >= g.H) continue;
        float* row = dst + (ih - row_lo) * g.W;
        for (int64_t kj = 0; kj < g.kW; ++kj) {
          const int64_t iw = iw0 + kj;
          if (iw >= 0 && iw < g.W) row[iw] += src[kj];
        }
      }
    }
  }
}

// How many threads to split the positions over: enough work per thread to pay for the team.
int64_t teams_for(const LocalGeometry& g) {
  const int64_t flops_per_position = g.N * g.K * g.patch();
  const int64_t min_positions = std::max<int64_t>(1, (int64_t(1) << 16) / std::max<int64_t>(1, flops_per_position));
  return std::max<int64_t>(1, std::min<int64_t>(num_threads(), g.positions() / min_positions));
}

// Runs body(t, begin, end) for the T contiguous ranges of positions, in parallel. A smaller
// team than asked for (nested regions) takes several ranges per thread.
template <typename Body>
void for_each_range(int64_t P, int64_t T, Body body) {
  if (T <= 1) {
    body(int64_t(0), int64_t(0), P);
    return;
  }
#pragma omp parallel num_threads(static_cast<int>(T))
  {
    for (int64_t t = omp_get_thread_num(); t < T; t += omp_get_num_threads()) body(t, P * t / T, P * (t + 1) / T);
  }
}

}  // namespace

void locally_connected2d_forward(const LocalGeometry& g, const float* input, const float* weight,
                                 const float* bias, float* output) {
  const int64_t P = g.positions(), patch = g.patch(), K = g.K, N = g.N;
  if (N == 0) return;
  const int64_t T = teams_for(g);
  // Per range: the patches (N x patch) and the product (N x K). Allocated here, outside the
  // parallel region, so running out of memory is a MemoryError rather than a terminate.
  std::vector<float> scratch(static_cast<size_t>(T * (N * patch + N * K)));
  for_each_range(P, T, [&](int64_t t, int64_t begin, int64_t end) {
    float* X = scratch.data() + t * (N * patch + N * K);
    float* Y = X + N * patch;
    for (int64_t p = begin; p < end; ++p) {
      gather_patches(g, input, p / g.OW, p % g.OW, X);
      sgemm_single_thread(false, true, N, K, patch, 1.f, X, patch, weight + p * K * patch, patch, 0.f, Y, K);
      for (int64_t n = 0; n < N; ++n)
        for (int64_t k = 0; k < K; ++k)
          output[(n * K + k) * P + p] = Y[n * K + k] + (bias ? bias[k * P + p] : 0.f);
    }
  });
}

void locally_connected2d_backward(const LocalGeometry& g, const float* input, const float* weight,
                                  const float* grad_output, float* grad_input, float* grad_weight) {
  const int64_t P = g.positions(), patch = g.patch(), K = g.K, N = g.N;
  if (N == 0) {  // no samples: both gradients are zero
    if (grad_input) std::fill(grad_input, grad_input + N * g.C * g.H * g.W, 0.f);
    if (grad_weight) std::fill(grad_weight, grad_weight + P * K * patch, 0.f);
    return;
  }
  const int64_t T = teams_for(g);
  // The input rows range t's positions touch: its private band of grad_input, summed into
  // grad_input afterwards (neighbouring ranges overlap by up to kH - sH rows, so threads
  // cannot add into grad_input directly).
  std::vector<int64_t> row_lo(T, 0), band_rows(T, 0), band_offset(T + 1, 0);
  for (int64_t t = 0; grad_input && t < T; ++t) {
    const int64_t begin = P * t / T, end = P * (t + 1) / T;
    band_offset[t + 1] = band_offset[t];
    if (begin == end) continue;
    const int64_t lo = std::max<int64_t>(0, (begin / g.OW) * g.sH - g.pad_top);
    const int64_t hi = std::min<int64_t>(g.H, ((end - 1) / g.OW) * g.sH - g.pad_top + g.kH);
    row_lo[t] = lo;
    band_rows[t] = std::max<int64_t>(0, hi - lo);
    band_offset[t + 1] += N * g.C * band_rows[t] * g.W;
  }
  const int64_t per_range = N * patch + N * K + N * patch;  // X, dY, dX
  std::vector<float> scratch(static_cast<size_t>(T * per_range));
  std::vector<float> bands(static_cast<size_t>(band_offset[T]), 0.f);
  for_each_range(P, T, [&](int64_t t, int64_t begin, int64_t end) {
    float* X = scratch.data() + t * per_range;
    float* dY = X + N * patch;
    float* dX = dY + N * K;
    float* band = bands.data() + band_offset[t];
    for (int64_t p = begin; p < end; ++p) {
      for (int64_t n = 0; n < N; ++n)
        for (int64_t k = 0; k < K; ++k) dY[n * K + k] = grad_output[(n * K + k) * P + p];
      const float* Wp = weight + p * K * patch;
      if (grad_weight) {
        gather_patches(g, input, p / g.OW, p % g.OW, X);
        sgemm_single_thread(true, false, K, patch, N, 1.f, dY, K, X, patch, 0.f, grad_weight + p * K * patch, patch);
      }
      if (grad_input) {
        sgemm_single_thread(false, false, N, patch, K, 1.f, dY, K, Wp, patch, 0.f, dX, patch);
        scatter_add_patches(g, dX, p / g.OW, p % g.OW, band, row_lo[t], band_rows[t]);
      }
    }
  });
  if (!grad_input) return;
  // grad_input row (n, c, ih) = the sum of the bands that cover input row ih.
  const int64_t rows = N * g.C * g.H;
  const int64_t row_teams = std::max<int64_t>(1, std::min<int64_t>(num_threads(), rows * g.W / 32768));
  for_each_range(rows, row_teams, [&](int64_t, int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const int64_t ih = r % g.H, plane = r / g.H;
      float* dst = grad_input + r * g.W;
      std::fill(dst, dst + g.W, 0.f);
      for (int64_t t = 0; t < T; ++t) {
        if (ih < row_lo[t] || ih >= row_lo[t] + band_rows[t]) continue;
        const float* src = bands.data() + band_offset[t] + (plane * band_rows[t] + ih - row_lo[t]) * g.W;
        for (int64_t w = 0; w < g.W; ++w) dst[w] += src[w];
      }
    }
  });
}

}  // namespace cnnnative
