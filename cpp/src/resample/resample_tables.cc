// Where each output index of one axis reads from: PyTorch's source-index rules, in the
// same float32 arithmetic (aten/src/ATen/native/UpSample.h), so that a source index on an
// exact boundary rounds the same way here and there.
//
//  scale  = (in - 1) / (out - 1)                 align_corners (0 when out == 1)
//         = float(1 / scale_factor)              a scale_factor was given (and is used)
//         = float(in) / out                      otherwise
//  nearest        src = min(floor(scale * o), in - 1), except o itself when out == in and
//                 o / 2 when out == 2 in (PyTorch's nearest_idx: its 2-D forward and every
//                 backward use these; its 1-D and 3-D forwards do not, so with a scale_factor
//                 that is not exactly 1 or 2 giving such sizes they disagree with their own
//                 gradients -- here forward and backward are the same map)
//  nearest-exact  src = min(floor(max(scale * (o + 0.5) - 0.5, 0) + 0.5), in - 1)  (PyTorch's
//                 forward; its backward drops the - 0.5 + 0.5 and can differ on exact ties)
//  linear         real = scale * o (align_corners) or max(scale * (o + 0.5) - 0.5, 0);
//                 i0 = min(floor(real), in - 1), i1 = i0 + (i0 < in - 1),
//                 l1 = clamp(real - i0, 0, 1), l0 = 1 - l1;  out == in copies (i0 = i1 = o).
#include <algorithm>
#include <cmath>
#include <limits>

#include "cnnnative/errors.h"
#include "resample/resample.h"

namespace cnnnative {
namespace {

float axis_scale(const ResampleAxis& a, bool align_corners) {
  if (align_corners) return a.out > 1 ? static_cast<float>(a.in - 1) / static_cast<float>(a.out - 1) : 0.0f;
  if (a.scale > 0.0) return static_cast<float>(1.0 / a.scale);
  return static_cast<float>(a.in) / static_cast<float>(a.out);
}

// Half-pixel centres, clamped at 0 (PyTorch's area_pixel_compute_source_index). One fused
// multiply-add, as PyTorch's AVX2 / AVX-512 kernels (the ones it runs on any current x86)
// are compiled: rounding the product first moves exact ties (o = 20 of 2 -> 41 samples
// 0.49999994 instead of 0.5) to the other neighbour.
float half_pixel_source(float scale, int64_t o) {
  const float src = std::fma(scale, static_cast<float>(o) + 0.5f, -0.5f);
  return src < 0.0f ? 0.0f : src;
}

}  // namespace

void validate_resample(const ResampleParams& p, const char* op) {
  CN_CHECK(p.planes >= 0, op, ": negative batch*channels ", p.planes);
  static const char* names[3] = {"depth", "height", "width"};
  for (int d = 0; d < 3; ++d) {
    const ResampleAxis& a = p.axis[d];
    CN_CHECK(a.in > 0 && a.out > 0, op, ": input and output sizes must be > 0, got ", names[d], " ", a.in,
             " -> ", a.out);
    CN_CHECK(a.in <= std::numeric_limits<int32_t>::max() && a.out <= std::numeric_limits<int32_t>::max(), op,
             ": ", names[d], " ", a.in, " -> ", a.out, " is too large (at most 2**31 - 1)");
    CN_CHECK(std::isfinite(a.scale) && a.scale >= 0.0, op, ": scale_factor must be positive and finite, got ",
             a.scale);
  }
  int64_t in = p.planes, out = p.planes;
  for (const ResampleAxis& a : p.axis) {
    in = checked_mul(in, a.in, "interpolate input size");
    out = checked_mul(out, a.out, "interpolate output size");
  }
}

AxisTable resample_axis_table(const ResampleAxis& a, ResampleMode mode, bool align_corners) {
  AxisTable t;
  const int64_t n = a.out, last = a.in - 1;
  t.i0.resize(n);
  if (mode != ResampleMode::linear) {
    const float scale = axis_scale(a, false);
    for (int64_t o = 0; o < n; ++o) {
      int64_t src;
      if (mode == ResampleMode::nearest) {
        src = a.out == a.in ? o
              : a.out == 2 * a.in ? o / 2
                                  : static_cast<int64_t>(std::floor(scale * static_cast<float>(o)));
      } else {  // the + 0.5 is a double add in PyTorch, rounded back to float for floorf
        src = static_cast<int64_t>(std::floor(static_cast<float>(static_cast<double>(half_pixel_source(scale, o)) + 0.5)));
      }
      t.i0[o] = static_cast<int32_t>(std::min(src, last));
    }
    return t;
  }
  t.i1.resize(n);
  t.l0.resize(n);
  t.l1.resize(n);
  const float scale = axis_scale(a, align_corners);
  for (int64_t o = 0; o < n; ++o) {
    if (a.in == a.out) {
      t.i0[o] = t.i1[o] = static_cast<int32_t>(o);
      t.l0[o] = 1.0f;
      t.l1[o] = 0.0f;
      continue;
    }
    const float real = align_corners ? scale * static_cast<float>(o) : half_pixel_source(scale, o);
    const int64_t i0 = std::min(static_cast<int64_t>(std::floor(real)), last);
    const float l1 = std::min(std::max(real - static_cast<float>(i0), 0.0f), 1.0f);
    t.i0[o] = static_cast<int32_t>(i0);
    t.i1[o] = static_cast<int32_t>(i0 + (i0 < last ? 1 : 0));
    t.l1[o] = l1;
    t.l0[o] = 1.0f - l1;
  }
  return t;
}

}  // namespace cnnnative
