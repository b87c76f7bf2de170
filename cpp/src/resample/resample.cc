// Threaded drivers of interpolate (see resample/resample.h): one plane per work item.
//
// Forward, linear modes: each referenced input row is interpolated along W once into a
// scratch block (H_in x W_out), then every output row is a blend of two of those rows
// (a contiguous, vectorised loop). Depth (3-D) is blended first, into a scratch plane.
// Nearest modes gather each output row, and copy it when the next row reads the same one.
// Backward: the transpose, rows first (contiguous axpy into H_in x W_out scratch), then one
// scatter along W per input row; sums run in a fixed order on one thread per plane.
#include <algorithm>
#include <cstring>
#include <vector>

#include "act/isa_table.h"
#include "act/parallel.h"
#include "resample/resample.h"

namespace cnnnative {
namespace {

const ResampleKernels& kernels() {
  return table_for_active_isa(resample_kernels_scalar, resample_kernels_avx2, resample_kernels_avx512);
}

// Planes per thread: at least this many output elements of work before another thread.
constexpr int64_t kGrainElements = 16384;

int64_t plane_grain(int64_t elements_per_plane) {
  return std::max<int64_t>(1, kGrainElements / std::max<int64_t>(1, elements_per_plane));
}

struct Tables {
  AxisTable d, h, w;
  bool w_doubles = false;  // nearest, W_out == 2 W_in and o -> o / 2: the duplicate2 kernel
  bool w_halves = false;   // the same, seen from the backward: pair_sum
  std::vector<char> h_used;  // input rows some output row reads
};

Tables make_tables(const ResampleParams& p) {
  Tables t;
  t.d = resample_axis_table(p.axis[0], p.mode, p.align_corners);
  t.h = resample_axis_table(p.axis[1], p.mode, p.align_corners);
  t.w = resample_axis_table(p.axis[2], p.mode, p.align_corners);
  const ResampleAxis& w = p.axis[2];
  if (p.mode != ResampleMode::linear && w.out == 2 * w.in) {
    bool doubles = true;
    for (int64_t o = 0; o < w.out && doubles; ++o) doubles = t.w.i0[o] == o / 2;
    t.w_doubles = t.w_halves = doubles;
  }
  t.h_used.assign(p.axis[1].in, 0);
  for (int64_t o = 0; o < p.axis[1].out; ++o) {
    t.h_used[t.h.i0[o]] = 1;
    if (p.mode == ResampleMode::linear) t.h_used[t.h.i1[o]] = 1;
  }
  return t;
}

// --- one 2-D plane (H, W); the depth axis is handled by the callers -----------------------

void nearest_plane(const ResampleKernels& k, const ResampleParams& p, const Tables& t, const float* in,
                   float* out) {
  const int64_t wi = p.axis[2].in, wo = p.axis[2].out, ho = p.axis[1].out;
  for (int64_t oh = 0; oh < ho; ++oh) {
    float* row = out + oh * wo;
    if (oh > 0 && t.h.i0[oh] == t.h.i0[oh - 1]) {
      std::memcpy(row, row - wo, sizeof(float) * wo);
      continue;
    }
    const float* src = in + int64_t(t.h.i0[oh]) * wi;
    if (t.w_doubles) {
      k.duplicate2(src, row, wi);
    } else {
      k.gather(src, t.w.i0.data(), row, wo);
    }
  }
}

// Accumulates into gin (H_in x W_in); `sum` is W_out floats of scratch.
void nearest_plane_backward(const ResampleKernels& k, const ResampleParams& p, const Tables& t, const float* g,
                            float* gin, float* sum) {
  const int64_t wi = p.axis[2].in, wo = p.axis[2].out, ho = p.axis[1].out;
  for (int64_t oh = 0; oh < ho;) {
    const int32_t ih = t.h.i0[oh];
    int64_t end = oh + 1;  // the output rows reading input row ih are consecutive (i0 is monotonic)
    while (end < ho && t.h.i0[end] == ih) ++end;
    const float* rows = g + oh * wo;
    if (end > oh + 1) {
      std::memcpy(sum, rows, sizeof(float) * wo);
      for (int64_t r = oh + 1; r < end; ++r) k.add(g + r * wo, sum, wo);
      rows = sum;
    }
    float* dst = gin + int64_t(ih) * wi;
    if (t.w_halves) {
      k.pair_sum(rows, dst, wi);
    } else {
      k.scatter_add(rows, t.w.i0.data(), dst, wo);
    }
    oh = end;
  }
}

// `rows` is H_in x W_out floats of scratch.
void linear_plane(const ResampleKernels& k, const ResampleParams& p, const Tables& t, const float* in, float* out,
                  float* rows) {
  const int64_t hi = p.axis[1].in, wi = p.axis[2].in, ho = p.axis[1].out, wo = p.axis[2].out;
  const AxisTable& w = t.w;
  const bool w_copy = wi == wo;  // the W table is the identity: read the input rows directly
  for (int64_t ih = 0; ih < hi && !w_copy; ++ih)
    if (t.h_used[ih]) k.lerp(in + ih * wi, w.i0.data(), w.i1.data(), w.l0.data(), w.l1.data(), rows + ih * wo, wo);
  const float* src = w_copy ? in : rows;
  for (int64_t oh = 0; oh < ho; ++oh)
    k.blend(src + int64_t(t.h.i0[oh]) * wo, t.h.l0[oh], src + int64_t(t.h.i1[oh]) * wo, t.h.l1[oh],
            out + oh * wo, wo);
}

// Accumulates into gin (H_in x W_in); `rows` is H_in x W_out floats of scratch.
void linear_plane_backward(const ResampleKernels& k, const ResampleParams& p, const Tables& t, const float* g,
                           float* gin, float* rows) {
  const int64_t hi = p.axis[1].in, wi = p.axis[2].in, ho = p.axis[1].out, wo = p.axis[2].out;
  const AxisTable& w = t.w;
  const bool w_copy = wi == wo;
  float* acc = w_copy ? gin : rows;  // with an identity W the row sums are the input gradient
  if (!w_copy) std::memset(rows, 0, sizeof(float) * hi * wo);
  for (int64_t oh = 0; oh < ho; ++oh) {
    k.axpy(t.h.l0[oh], g + oh * wo, acc + int64_t(t.h.i0[oh]) * wo, wo);
    k.axpy(t.h.l1[oh], g + oh * wo, acc + int64_t(t.h.i1[oh]) * wo, wo);
  }
  for (int64_t ih = 0; ih < hi && !w_copy; ++ih)
    if (t.h_used[ih])
      k.lerp_transpose(rows + ih * wo, w.i0.data(), w.i1.data(), w.l0.data(), w.l1.data(), gin + ih * wi, wo);
}

}  // namespace

void resample_forward(const ResampleParams& p, const float* x, float* y) {
  const Tables t = make_tables(p);
  const int64_t di = p.axis[0].in, hi = p.axis[1].in, wi = p.axis[2].in;
  const int64_t do_ = p.axis[0].out, ho = p.axis[1].out, wo = p.axis[2].out;
  const int64_t in_slice = hi * wi, out_slice = ho * wo;
  const int64_t in_plane = di * in_slice, out_plane = do_ * out_slice;
  const bool linear = p.mode == ResampleMode::linear;
  const bool depth_blend = linear && di != do_;
  parallel_for(p.planes, plane_grain(out_plane), [&](int64_t begin, int64_t end) {
    const ResampleKernels& k = kernels();
    std::vector<float> rows(linear ? hi * wo : 0), slice(depth_blend ? in_slice : 0);
    for (int64_t pl = begin; pl < end; ++pl) {
      const float* in = x + pl * in_plane;
      float* out = y + pl * out_plane;
      for (int64_t od = 0; od < do_; ++od) {
        float* dst = out + od * out_slice;
        if (!linear) {
          nearest_plane(k, p, t, in + int64_t(t.d.i0[od]) * in_slice, dst);
          continue;
        }
        const float* src = in + int64_t(t.d.i0[od]) * in_slice;
        if (depth_blend) {
          k.blend(src, t.d.l0[od], in + int64_t(t.d.i1[od]) * in_slice, t.d.l1[od], slice.data(), in_slice);
          src = slice.data();
        }
        linear_plane(k, p, t, src, dst, rows.data());
      }
    }
  });
}

void resample_backward(const ResampleParams& p, const float* gy, float* gx) {
  const Tables t = make_tables(p);
  const int64_t di = p.axis[0].in, hi = p.axis[1].in, wi = p.axis[2].in;
  const int64_t do_ = p.axis[0].out, ho = p.axis[1].out, wo = p.axis[2].out;
  const int64_t in_slice = hi * wi, out_slice = ho * wo;
  const int64_t in_plane = di * in_slice, out_plane = do_ * out_slice;
  const bool linear = p.mode == ResampleMode::linear;
  const bool depth_blend = linear && di != do_;
  parallel_for(p.planes, plane_grain(out_plane), [&](int64_t begin, int64_t end) {
    const ResampleKernels& k = kernels();
    std::vector<float> rows(linear ? hi * wo : wo), slice(depth_blend ? in_slice : 0);
    for (int64_t pl = begin; pl < end; ++pl) {
      const float* g = gy + pl * out_plane;
      float* gin = gx + pl * in_plane;
      std::memset(gin, 0, sizeof(float) * in_plane);
      for (int64_t od = 0; od < do_; ++od) {
        const float* src = g + od * out_slice;
        if (!linear) {
          nearest_plane_backward(k, p, t, src, gin + int64_t(t.d.i0[od]) * in_slice, rows.data());
          continue;
        }
        if (!depth_blend) {  // the identity along depth: slice od is slice od of the input
          linear_plane_backward(k, p, t, src, gin + od * in_slice, rows.data());
          continue;
        }
        std::memset(slice.data(), 0, sizeof(float) * in_slice);
        linear_plane_backward(k, p, t, src, slice.data(), rows.data());
        k.axpy(t.d.l0[od], slice.data(), gin + int64_t(t.d.i0[od]) * in_slice, in_slice);
        k.axpy(t.d.l1[od], slice.data(), gin + int64_t(t.d.i1[od]) * in_slice, in_slice);
      }
    }
  });
}

}  // namespace cnnnative
