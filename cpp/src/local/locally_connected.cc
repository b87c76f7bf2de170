// Locally connected 2-D convolution: one small GEMM per output position (see the header).
#include "local/locally_connected.h"

#include <algorithm>
#include <vector>

#include "cnnnative/errors.h"
#include "cnnnative/thread_pool.h"
#include "cnnnative/threads.h"
#include "act/parallel.h"
#include "local/small_gemm.h"

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

constexpr int64_t kBlock = 16;  // positions whose outputs are moved to/from (N, K, P) together

// xt = input in (H, C, W, N) order: the N samples of a pixel side by side, so a patch
// column of every sample is one contiguous run, and a band of input rows is contiguous.
void to_hcwn(const LocalGeometry& g, const float* x, float* xt) {
  parallel_for(g.H * g.C, 64, [&](int64_t begin, int64_t end) {
    for (int64_t hc = begin; hc < end; ++hc) {
      const int64_t h = hc / g.C, c = hc % g.C;
      float* dst = xt + hc * g.W * g.N;
      for (int64_t n = 0; n < g.N; ++n) {
        const float* src = x + ((n * g.C + c) * g.H + h) * g.W;
        for (int64_t w = 0; w < g.W; ++w) dst[w * g.N + n] = src[w];
      }
    }
  });
}

// XT (patch x ldx, column n = sample n) = the patches under output position (oh, ow), from
// the (H, C, W, N) input; zero where they hang over the padding. Columns N..ldx untouched.
void gather_columns(const LocalGeometry& g, const float* xt, int64_t oh, int64_t ow, float* XT, int64_t ldx) {
  float* dst = XT;
  for (int64_t c = 0; c < g.C; ++c) {
    for (int64_t ki = 0; ki < g.kH; ++ki) {
      const int64_t ih = oh * g.sH - g.pad_top + ki;
      for (int64_t kj = 0; kj < g.kW; ++kj, dst += ldx) {
        const int64_t iw = ow * g.sW - g.pad_left + kj;
        if (ih < 0 || ih >= g.H || iw < 0 || iw >= g.W)
          std::fill(dst, dst + g.N, 0.f);
        else
          std::copy_n(xt + ((ih * g.C + c) * g.W + iw) * g.N, g.N, dst);
      }
    }
  }
}

// X (N x ldx) = the patches under (oh, ow) row by row (sample n on row n), from the NCHW input.
void gather_rows(const LocalGeometry& g, const float* input, int64_t oh, int64_t ow, float* X, int64_t ldx) {
  const int64_t plane = g.H * g.W, ih0 = oh * g.sH - g.pad_top, iw0 = ow * g.sW - g.pad_left;
  const bool inside = ih0 >= 0 && ih0 + g.kH <= g.H && iw0 >= 0 && iw0 + g.kW <= g.W;
  for (int64_t n = 0; n < g.N; ++n) {
    float* dst = X + n * ldx;
    for (int64_t c = 0; c < g.C; ++c) {
      const float* src = input + (n * g.C + c) * plane;
      if (inside) {  // the common case: no bounds to check
        for (int64_t ki = 0; ki < g.kH; ++ki, dst += g.kW) {
          const float* row = src + (ih0 + ki) * g.W + iw0;
          for (int64_t kj = 0; kj < g.kW; ++kj) dst[kj] = row[kj];
        }
        continue;
      }
      for (int64_t ki = 0; ki < g.kH; ++ki) {
        const int64_t ih = ih0 + ki;
        for (int64_t kj = 0; kj < g.kW; ++kj) {
          const int64_t iw = iw0 + kj;
          *dst++ = (ih < 0 || ih >= g.H || iw < 0 || iw >= g.W) ? 0.f : src[ih * g.W + iw];
        }
      }
    }
  }
}

// The transpose of gather_columns, accumulating into band: input rows [row_lo, ...) in
// (H, C, W, N) order.
void scatter_add_columns(const LocalGeometry& g, const float* dXT, int64_t ldx, int64_t oh, int64_t ow,
                         float* band, int64_t row_lo) {
  const float* src = dXT;
  for (int64_t c = 0; c < g.C; ++c) {
    for (int64_t ki = 0; ki < g.kH; ++ki) {
      const int64_t ih = oh * g.sH - g.pad_top + ki;
      for (int64_t kj = 0; kj < g.kW; ++kj, src += ldx) {
        const int64_t iw = ow * g.sW - g.pad_left + kj;
        if (ih < 0 || ih >= g.H || iw < 0 || iw >= g.W) continue;
        float* dst = band + (((ih - row_lo) * g.C + c) * g.W + iw) * g.N;
        for (int64_t n = 0; n < g.N; ++n) dst[n] += src[n];
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
// team than asked for (inside another team, or while another thread holds it) takes several ranges per thread.
template <typename Body>
void for_each_range(int64_t P, int64_t T, Body body) {
  if (T <= 1) {
    body(int64_t(0), int64_t(0), P);
    return;
  }
  run_team(static_cast<int>(T), [&](int tid, int team) {
    for (int64_t t = tid; t < T; t += team) body(t, P * t / T, P * (t + 1) / T);
  });
}

}  // namespace

void locally_connected2d_forward(const LocalGeometry& g, const float* input, const float* weight,
                                 const float* bias, float* output) {
  const int64_t P = g.positions(), patch = g.patch(), K = g.K, N = g.N;
  if (N == 0) return;
  const int64_t T = teams_for(g), ldx = local::padded_columns(N);
  // Allocated here, outside the parallel region, so running out of memory is a
  // MemoryError rather than a terminate. Per range: the patches XT (patch x ldx) and the
  // outputs of a block of positions (K x ldx each).
  std::vector<float> xt(static_cast<size_t>(g.H * g.C * g.W * N));
  const int64_t per_range = patch * ldx + kBlock * K * ldx;
  std::vector<float> scratch(static_cast<size_t>(T * per_range), 0.f);
  to_hcwn(g, input, xt.data());
  for_each_range(P, T, [&](int64_t t, int64_t begin, int64_t end) {
    float* XT = scratch.data() + t * per_range;
    float* YT = XT + patch * ldx;  // block of positions: YT[(q * K + k) * ldx + n]
    for (int64_t p0 = begin; p0 < end; p0 += kBlock) {
      const int64_t count = std::min(kBlock, end - p0);
      for (int64_t q = 0; q < count; ++q) {
        const int64_t p = p0 + q;
        gather_columns(g, xt.data(), p / g.OW, p % g.OW, XT, ldx);
        // Y^T (K x N) = W_p (K x patch) * X_p^T (patch x N)
        local::small_gemm(K, N, patch, weight + p * K * patch, patch, 1, XT, ldx, YT + q * K * ldx, ldx);
      }
      // One contiguous run of `count` outputs per (n, k): cache lines written whole.
      for (int64_t n = 0; n < N; ++n) {
        for (int64_t k = 0; k < K; ++k) {
          float* dst = output + (n * K + k) * P + p0;
          const float* b = bias ? bias + k * P + p0 : nullptr;
          for (int64_t q = 0; q < count; ++q) dst[q] = YT[(q * K + k) * ldx + n] + (b ? b[q] : 0.f);
        }
      }
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
  const int64_t T = teams_for(g), ldx = local::padded_columns(N), ldp = local::padded_columns(patch);
  // The input rows range t's positions touch: its private band of grad_input in (H, C, W, N)
  // order, summed into grad_input afterwards (neighbouring ranges overlap by up to kH - sH
  // rows, so threads cannot add into grad_input directly).
  std::vector<int64_t> row_lo(T, 0), band_rows(T, 0), band_offset(T + 1, 0);
  for (int64_t t = 0; grad_input && t < T; ++t) {
    const int64_t begin = P * t / T, end = P * (t + 1) / T;
    band_offset[t + 1] = band_offset[t];
    if (begin == end) continue;
    const int64_t lo = std::max<int64_t>(0, (begin / g.OW) * g.sH - g.pad_top);
    const int64_t hi = std::min<int64_t>(g.H, ((end - 1) / g.OW) * g.sH - g.pad_top + g.kH);
    row_lo[t] = lo;
    band_rows[t] = std::max<int64_t>(0, hi - lo);
    band_offset[t + 1] += band_rows[t] * g.C * g.W * N;
  }
  // Per range: X (N x ldp) for the weight gradient, dX^T (patch x ldx) for the input
  // gradient, and dY^T of a block of positions (K x ldx each).
  const int64_t per_range = N * ldp + patch * ldx + kBlock * K * ldx;
  std::vector<float> scratch(static_cast<size_t>(T * per_range), 0.f);
  std::vector<float> bands(static_cast<size_t>(band_offset[T]), 0.f);
  for_each_range(P, T, [&](int64_t t, int64_t begin, int64_t end) {
    float* X = scratch.data() + t * per_range;
    float* dXT = X + N * ldp;
    float* dYT = dXT + patch * ldx;  // dYT[(q * K + k) * ldx + n]
    float* band = bands.data() + band_offset[t];
    for (int64_t p0 = begin; p0 < end; p0 += kBlock) {
      const int64_t count = std::min(kBlock, end - p0);
      for (int64_t n = 0; n < N; ++n)
        for (int64_t k = 0; k < K; ++k) {
          const float* src = grad_output + (n * K + k) * P + p0;
          for (int64_t q = 0; q < count; ++q) dYT[(q * K + k) * ldx + n] = src[q];
        }
      for (int64_t q = 0; q < count; ++q) {
        const int64_t p = p0 + q, oh = p / g.OW, ow = p % g.OW;
        const float* dY = dYT + q * K * ldx;
        const float* Wp = weight + p * K * patch;
        if (grad_weight) {
          // dW_p (K x patch) = dY_p^T (K x N) * X_p (N x patch)
          gather_rows(g, input, oh, ow, X, ldp);
          local::small_gemm(K, patch, N, dY, ldx, 1, X, ldp, grad_weight + p * K * patch, patch);
        }
        if (grad_input) {
          // dX_p^T (patch x N) = W_p^T (patch x K) * dY_p^T (K x N)
          local::small_gemm(patch, N, K, Wp, 1, patch, dY, ldx, dXT, ldx);
          scatter_add_columns(g, dXT, ldx, oh, ow, band, row_lo[t]);
        }
      }
    }
  });
  if (!grad_input) return;
  // grad_input[n, c, h, :] = the sum of the bands that cover input row h, back in NCHW.
  parallel_for(g.H * g.C, 64, [&](int64_t begin, int64_t end) {
    for (int64_t hc = begin; hc < end; ++hc) {
      const int64_t h = hc / g.C, c = hc % g.C;
      for (int64_t n = 0; n < N; ++n) {
        float* dst = grad_input + ((n * g.C + c) * g.H + h) * g.W;
        std::fill(dst, dst + g.W, 0.f);
      }
      for (int64_t t = 0; t < T; ++t) {
        if (h < row_lo[t] || h >= row_lo[t] + band_rows[t]) continue;
        const float* src = bands.data() + band_offset[t] + ((h - row_lo[t]) * g.C + c) * g.W * N;
        for (int64_t n = 0; n < N; ++n) {
          float* dst = grad_input + ((n * g.C + c) * g.H + h) * g.W;
          for (int64_t w = 0; w < g.W; ++w) dst[w] += src[w * N + n];
        }
      }
    }
  });
}

}  // namespace cnnnative
