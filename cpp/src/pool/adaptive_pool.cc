// Adaptive pooling (see pool/adaptive_pool.h). The windows change size from one output to
// the next, so there is no fixed-stride inner loop to vectorise across outputs; each window
// is summed (or scanned) row by row along contiguous input columns instead, in PyTorch's
// (d, h, w) order. Forward passes share out output rows across threads; backward passes
// scatter into overlapping windows, so they share out whole planes.
#include "pool/adaptive_pool.h"

#include <cstdint>

#include "act/parallel.h"
#include "cnnnative/errors.h"

namespace cnnnative {
namespace {

constexpr int64_t kGrainWork = 16384;

// Window [begin, end) of output i along an axis of `in` inputs and `out` outputs.
struct Span {
  int64_t begin, end;
};
inline Span window(int64_t i, int64_t in, int64_t out) {
  const __int128 a = static_cast<__int128>(i) * in, b = static_cast<__int128>(i + 1) * in;
  return {static_cast<int64_t>(a / out), static_cast<int64_t>((b + out - 1) / out)};
}

// Items of work per output row, for the grain: the row's windows read about in/out + 1
// elements per axis each.
int64_t grain_for(const AdaptivePoolParams& p) {
  const double per_row = static_cast<double>(p.OW) * (p.D / p.OD + 1) * (p.H / p.OH + 1) * (p.W / p.OW + 1);
  return per_row >= kGrainWork ? 1 : kGrainWork / static_cast<int64_t>(per_row < 1 ? 1 : per_row);
}

// fn(plane, od, oh) for every output row, threaded.
template <typename Fn>
void for_rows(const AdaptivePoolParams& p, Fn fn) {
  const int64_t rows = p.OD * p.OH;
  parallel_for(p.planes * rows, grain_for(p), [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) fn(r / rows, (r % rows) / p.OH, r % p.OH);
  });
}

// fn(plane) for every plane, threaded.
template <typename Fn>
void for_planes(const AdaptivePoolParams& p, Fn fn) {
  const int64_t per_plane = p.D * p.H * p.W + p.OD * p.OH * p.OW;
  parallel_for(p.planes, per_plane >= kGrainWork ? 1 : kGrainWork / per_plane, [&](int64_t b, int64_t e) {
    for (int64_t c = b; c < e; ++c) fn(c);
  });
}

}  // namespace

void validate_adaptive_pool_params(const AdaptivePoolParams& p, const char* op) {
  CN_CHECK(p.planes >= 0, op, ": batch and channels must be >= 0");
  CN_CHECK(p.D >= 1 && p.H >= 1 && p.W >= 1, op, ": every pooled input dimension must be >= 1, got (", p.D, ", ",
           p.H, ", ", p.W, ")");
  CN_CHECK(p.OD >= 1 && p.OH >= 1 && p.OW >= 1, op, ": output_size must be >= 1 in every dimension, got (", p.OD,
           ", ", p.OH, ", ", p.OW, ")");
  checked_numel({p.planes, p.D, p.H, p.W}, "adaptive pooling input size");
  checked_numel({p.planes, p.OD, p.OH, p.OW}, "adaptive pooling output size");
}

void adaptive_avg_pool_forward(const AdaptivePoolParams& p, const float* x, float* y) {
  const int64_t in = p.D * p.H * p.W, out = p.OD * p.OH * p.OW;
  for_rows(p, [&](int64_t c, int64_t od, int64_t oh) {
    const Span sd = window(od, p.D, p.OD), sh = window(oh, p.H, p.OH);
    const float* plane = x + c * in;
    float* o = y + c * out + (od * p.OH + oh) * p.OW;
    for (int64_t ow = 0; ow < p.OW; ++ow) {
      const Span sw = window(ow, p.W, p.OW);
      float sum = 0.0f;
      for (int64_t d = sd.begin; d < sd.end; ++d)
        for (int64_t h = sh.begin; h < sh.end; ++h) {
          const float* row = plane + (d * p.H + h) * p.W;
          for (int64_t w = sw.begin; w < sw.end; ++w) sum += row[w];
        }
      const double count = static_cast<double>(sd.end - sd.begin) * (sh.end - sh.begin) * (sw.end - sw.begin);
      o[ow] = sum / static_cast<float>(count);
    }
  });
}

void adaptive_avg_pool_backward(const AdaptivePoolParams& p, const float* dy, float* dx) {
  const int64_t in = p.D * p.H * p.W, out = p.OD * p.OH * p.OW;
  for_planes(p, [&](int64_t c) {
    float* plane = dx + c * in;
    for (int64_t i = 0; i < in; ++i) plane[i] = 0.0f;
    const float* g = dy + c * out;
    for (int64_t od = 0; od < p.OD; ++od) {
      const Span sd = window(od, p.D, p.OD);
      for (int64_t oh = 0; oh < p.OH; ++oh) {
        const Span sh = window(oh, p.H, p.OH);
        for (int64_t ow = 0; ow < p.OW; ++ow) {
          const Span sw = window(ow, p.W, p.OW);
          const double count = static_cast<double>(sd.end - sd.begin) * (sh.end - sh.begin) * (sw.end - sw.begin);
          const float share = g[(od * p.OH + oh) * p.OW + ow] / static_cast<float>(count);
          for (int64_t d = sd.begin; d < sd.end; ++d)
            for (int64_t h = sh.begin; h < sh.end; ++h) {
              float* row = plane + (d * p.H + h) * p.W;
              for (int64_t w = sw.begin; w < sw.end; ++w) row[w] += share;
            }
        }
      }
    }
  });
}

void adaptive_max_pool_forward(const AdaptivePoolParams& p, const float* x, float* y, int64_t* idx) {
  const int64_t in = p.D * p.H * p.W, out = p.OD * p.OH * p.OW;
  for_rows(p, [&](int64_t c, int64_t od, int64_t oh) {
    const Span sd = window(od, p.D, p.OD), sh = window(oh, p.H, p.OH);
    const float* plane = x + c * in;
    const int64_t at = (od * p.OH + oh) * p.OW;
    for (int64_t ow = 0; ow < p.OW; ++ow) {
      const Span sw = window(ow, p.W, p.OW);
      float best = -__builtin_inff();
      int64_t best_at = (sd.begin * p.H + sh.begin) * p.W + sw.begin;
      for (int64_t d = sd.begin; d < sd.end; ++d)
        for (int64_t h = sh.begin; h < sh.end; ++h) {
          const int64_t row = (d * p.H + h) * p.W;
          for (int64_t w = sw.begin; w < sw.end; ++w) {
            const float v = plane[row + w];
            if (v > best || v != v) {  // PyTorch's rule: NaN always taken (the last NaN wins)
              best = v;
              best_at = row + w;
            }
          }
        }
      y[c * out + at + ow] = best;
      if (idx) idx[c * out + at + ow] = best_at;
    }
  });
}

void adaptive_max_pool_backward(const AdaptivePoolParams& p, const float* dy, const int64_t* idx, float* dx) {
  const int64_t in = p.D * p.H * p.W, out = p.OD * p.OH * p.OW, total = p.planes * out;
  for (int64_t i = 0; i < total; ++i)
    if (idx[i] < 0 || idx[i] >= in)
      throw std::invalid_argument(concat("adaptive_max_pool_backward: indices[", i, "] = ", idx[i],
                                         " is outside the input plane of ", in, " elements"));
  for_planes(p, [&](int64_t c) {
    float* plane = dx + c * in;
    for (int64_t i = 0; i < in; ++i) plane[i] = 0.0f;
    const float* g = dy + c * out;
    const int64_t* ix = idx + c * out;
    for (int64_t i = 0; i < out; ++i) plane[ix[i]] += g[i];
  });
}

}  // namespace cnnnative
