// Constant / reflect / replicate / circular padding, forward and backward (see pad.h).
// Plain C++: the work is memcpy, fills and short border loops the compiler vectorises, so
// there is no per-ISA kernel; threads split the output rows (forward) or the planes
// (backward, where several output rows add into one input row).
#include "pad/pad.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "act/parallel.h"
#include "cnnnative/errors.h"

namespace cnnnative {
namespace {

constexpr int64_t kGrainElements = 16384;  // output elements per thread, at least

const char* axis_name(int a) { return a == 0 ? "W" : a == 1 ? "H" : "D"; }

// The input index that output index o of this axis copies, or -1 for the constant.
int64_t source(const PadAxis& ax, PadMode mode, int64_t o) {
  int64_t s = o - ax.before;
  switch (mode) {
    case PadMode::kConstant:
      return s >= 0 && s < ax.size ? s : -1;
    case PadMode::kReflect:  // mirror about the first and last elements (not repeating them)
      if (s < 0) s = -s;
      if (s >= ax.size) s = 2 * (ax.size - 1) - s;
      return s;
    case PadMode::kReplicate:
      return std::clamp<int64_t>(s, 0, ax.size - 1);
    case PadMode::kCircular: {
      // torch crops first, then wraps around what is left.
      const int64_t start = std::max<int64_t>(-ax.before, 0);
      const int64_t kept = ax.size - start - std::max<int64_t>(-ax.after, 0);
      int64_t t = (o - std::max<int64_t>(ax.before, 0)) % kept;
      if (t < 0) t += kept;
      return start + t;
    }
  }
  return -1;
}

std::vector<int64_t> source_map(const PadAxis& ax, PadMode mode) {
  std::vector<int64_t> map(static_cast<size_t>(ax.out_size()));
  for (int64_t o = 0; o < ax.out_size(); ++o) map[static_cast<size_t>(o)] = source(ax, mode, o);
  return map;
}

// The output columns [lo, hi) that copy input column o - before in every mode.
struct Middle {
  int64_t lo, hi;
};
Middle middle_of(const PadAxis& ax) {
  const int64_t lo = std::min(std::max<int64_t>(ax.before, 0), ax.out_size());
  const int64_t hi = std::max(lo, std::min(ax.out_size(), ax.size + ax.before));
  return {lo, hi};
}

struct Maps {
  std::vector<int64_t> w, h, d;
  Middle mid;
  explicit Maps(const PadGeometry& g)
      : w(source_map(g.axis[0], g.mode)), h(source_map(g.axis[1], g.mode)),
        d(source_map(g.axis[2], g.mode)), mid(middle_of(g.axis[0])) {}
};

}  // namespace

PadMode pad_mode_from_string(const std::string& mode) {
  if (mode == "constant") return PadMode::kConstant;
  if (mode == "reflect") return PadMode::kReflect;
  if (mode == "replicate") return PadMode::kReplicate;
  if (mode == "circular") return PadMode::kCircular;
  throw std::invalid_argument(concat("pad: mode must be 'constant', 'reflect', 'replicate' or 'circular', got '",
                                     mode, "'"));
}

void check_pad_geometry(const PadGeometry& g) {
  CN_CHECK(g.planes >= 0, "pad: negative plane count ", g.planes);
  int64_t total = g.planes;
  for (int a = 0; a < 3; ++a) {
    const PadAxis& ax = g.axis[a];
    CN_CHECK(ax.size >= 0, "pad: negative size ", ax.size, " of dimension ", axis_name(a));
    const int64_t out = checked_add(checked_add(ax.size, ax.before, "padded size"), ax.after, "padded size");
    const bool needs_element = g.mode == PadMode::kReflect || g.mode == PadMode::kReplicate;
    CN_CHECK(out >= (needs_element ? 1 : 0), "pad: input size ", ax.size, " of dimension ", axis_name(a),
             " padded by (", ax.before, ", ", ax.after, ") gives output size ", out);
    if (g.mode == PadMode::kReplicate)
      CN_CHECK(ax.size >= 1, "pad: replicate padding needs a non-empty dimension ", axis_name(a),
               ", got size 0");
    if (g.mode == PadMode::kReflect)
      CN_CHECK(ax.before < ax.size && ax.after < ax.size, "pad: reflect padding (", ax.before, ", ", ax.after,
               ") must be less than the input size ", ax.size, " of dimension ", axis_name(a));
    if (g.mode == PadMode::kCircular) {
      const int64_t kept = ax.size - std::max<int64_t>(-ax.before, 0) - std::max<int64_t>(-ax.after, 0);
      CN_CHECK(ax.before <= kept && ax.after <= kept && (kept > 0 || (ax.before <= 0 && ax.after <= 0)),
               "pad: circular padding (", ax.before, ", ", ax.after, ") must not exceed the size ", kept,
               " (input size ", ax.size, " after cropping) of dimension ", axis_name(a),
               ": it would wrap around more than once");
    }
    total = checked_mul(total, out, "padded size");
  }
  (void)total;
}

void pad_forward(const float* in, float* out, const PadGeometry& g, float value) {
  check_pad_geometry(g);
  const Maps maps(g);
  const PadAxis &aw = g.axis[0], &ah = g.axis[1], &ad = g.axis[2];
  const int64_t W = aw.size, H = ah.size, D = ad.size;
  const int64_t OW = aw.out_size(), OH = ah.out_size(), OD = ad.out_size();
  const int64_t rows = g.planes * OD * OH;
  const int64_t lo = maps.mid.lo, hi = maps.mid.hi;
  parallel_for(rows, std::max<int64_t>(1, kGrainElements / std::max<int64_t>(OW, 1)), [&](int64_t b, int64_t e) {
    // Row r is (plane p, output depth od, output row oh); counters, not a division per row.
    int64_t oh = b % OH, od = (b / OH) % OD, p = b / (OH * OD);
    for (int64_t r = b; r < e; ++r) {
      float* dst = out + r * OW;
      const int64_t sd = maps.d[static_cast<size_t>(od)], sh = maps.h[static_cast<size_t>(oh)];
      if (sd < 0 || sh < 0) {  // a whole row of the constant
        std::fill(dst, dst + OW, value);
      } else {
        const float* src = in + ((p * D + sd) * H + sh) * W;
        for (int64_t o = 0; o < lo; ++o) {
          const int64_t s = maps.w[static_cast<size_t>(o)];
          dst[o] = s < 0 ? value : src[s];
        }
        if (hi > lo) std::memcpy(dst + lo, src + (lo - aw.before), static_cast<size_t>(hi - lo) * sizeof(float));
        for (int64_t o = hi; o < OW; ++o) {
          const int64_t s = maps.w[static_cast<size_t>(o)];
          dst[o] = s < 0 ? value : src[s];
        }
      }
      if (++oh == OH) {
        oh = 0;
        if (++od == OD) {
          od = 0;
          ++p;
        }
      }
    }
  });
}

void pad_backward(const float* grad_out, float* grad_in, const PadGeometry& g) {
  check_pad_geometry(g);
  if (g.mode == PadMode::kConstant) {
    // Each input element went to at most one place: the gradient is grad_out cropped back
    // (and zero where the forward cropped), i.e. constant padding by the negated pads.
    PadGeometry crop = g;
    for (PadAxis& ax : crop.axis) ax = PadAxis{ax.out_size(), -ax.before, -ax.after};
    pad_forward(grad_out, grad_in, crop, 0.0f);
    return;
  }
  const Maps maps(g);
  const PadAxis &aw = g.axis[0], &ah = g.axis[1], &ad = g.axis[2];
  const int64_t W = aw.size, H = ah.size, D = ad.size;
  const int64_t OW = aw.out_size(), OH = ah.out_size(), OD = ad.out_size();
  const int64_t plane_in = D * H * W, plane_out = OD * OH * OW;
  const int64_t lo = maps.mid.lo, hi = maps.mid.hi, shift = aw.before;
  const int64_t grain = std::max<int64_t>(1, kGrainElements / std::max<int64_t>(plane_out + plane_in, 1));
  // Output row -> input row: the W borders add into the columns they copied.
  auto add_borders = [&](float* dst, const float* src) {
    for (int64_t o = 0; o < lo; ++o) {
      const int64_t s = maps.w[static_cast<size_t>(o)];
      if (s >= 0) dst[s] += src[o];
    }
    for (int64_t o = hi; o < OW; ++o) {
      const int64_t s = maps.w[static_cast<size_t>(o)];
      if (s >= 0) dst[s] += src[o];
    }
  };
  // The middle: output column o came from input column o - before (in every mode).
  auto add_row = [&](float* dst, const float* src) {
    float* __restrict d = dst + (lo - shift);
    const float* __restrict sr = src + lo;
    for (int64_t i = 0; i < hi - lo; ++i) d[i] += sr[i];
    add_borders(dst, src);
  };
  auto assign_row = [&](float* dst, const float* src) {  // the first write of an input row
    std::fill(dst, dst + (lo - shift), 0.0f);
    std::memcpy(dst + (lo - shift), src + lo, static_cast<size_t>(hi - lo) * sizeof(float));
    std::fill(dst + (hi - shift), dst + W, 0.0f);
    add_borders(dst, src);
  };
  // An output row is an input row's "own" when it sits in the middle of D and H: it is the
  // only row copied straight from that input row, and is assigned (not added) first, so
  // the input gradient needs no zero-fill pass; border rows then add in.
  auto own = [&](int64_t od, int64_t oh) {
    return maps.d[static_cast<size_t>(od)] == od - ad.before && maps.h[static_cast<size_t>(oh)] == oh - ah.before;
  };
  parallel_for(g.planes, grain, [&](int64_t b, int64_t e) {
    for (int64_t p = b; p < e; ++p) {
      float* gin = grad_in + p * plane_in;
      const float* gout = grad_out + p * plane_out;
      for (int64_t d = 0; d < D; ++d) {
        for (int64_t h = 0; h < H; ++h) {
          float* dst = gin + (d * H + h) * W;
          const int64_t od = d + ad.before, oh = h + ah.before;
          const bool owned = od >= 0 && od < OD && oh >= 0 && oh < OH && own(od, oh);
          if (owned && hi > lo) {
            assign_row(dst, gout + (od * OH + oh) * OW);
          } else {  // cropped away (only border rows may add in), or no middle columns
            std::fill(dst, dst + W, 0.0f);
            if (owned) add_borders(dst, gout + (od * OH + oh) * OW);
          }
        }
      }
      for (int64_t od = 0; od < OD; ++od) {
        const int64_t sd = maps.d[static_cast<size_t>(od)];
        for (int64_t oh = 0; oh < OH; ++oh) {
          const int64_t sh = maps.h[static_cast<size_t>(oh)];
          if (sd < 0 || sh < 0 || own(od, oh)) continue;
          add_row(gin + (sd * H + sh) * W, gout + (od * OH + oh) * OW);
        }
      }
    }
  });
}

}  // namespace cnnnative
