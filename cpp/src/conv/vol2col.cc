// vol2col and col2vol: im2col (im2col.h) with a depth axis. Row (c, kt, kr, ks) of the
// column matrix holds, for every output position of the band, the input value that tap
// sees there (0 in the padding). The band is a range of output rows r = od * OH + oh,
// so a band's columns are contiguous in y and dy and the GEMM writes straight into them.
// The innermost copies are the 2-D ones (im2col_row.h: memcpy for stride 1).
#include <algorithm>

#include "cnnnative/thread_pool.h"
#include "cnnnative/threads.h"
#include "conv/conv3d.h"
#include "conv/im2col_range.h"
#include "conv/im2col_row.h"

namespace cnnnative {
namespace conv3d {

using im2col::ValidRange;
using im2col::valid_output_range;

namespace {

// The input coordinate of output index o along axis d for kernel tap k.
inline int64_t input_index(const Conv3dParams& p, int d, int64_t o, int64_t k) {
  return o * p.stride[d] + k * p.dilation[d] - p.pad_lo[d];
}

}  // namespace

void vol2col_rows(const Conv3dParams& p, const float* xg, int64_t r0, int64_t r1, int64_t row0,
                  int64_t row1, float* cols, int64_t ld) {
  const int64_t D = p.in[0], H = p.in[1], W = p.in[2];
  const int64_t T = p.kernel[0], R = p.kernel[1], S = p.kernel[2];
  const int64_t OH = p.out(1), OW = p.out(2);
  for (int64_t row = row0; row < row1; ++row) {
    const int64_t ks = row % S, kr = (row / S) % R, kt = (row / (S * R)) % T, c = row / (S * R * T);
    const int64_t offset = ks * p.dilation[2] - p.pad_lo[2];
    const ValidRange v = valid_output_range(offset, p.stride[2], W, OW);
    const float* xc = xg + c * D * H * W;
    float* out = cols + (row - row0) * ld;
    for (int64_t r = r0; r < r1; ++r, out += OW) {
      const int64_t id = input_index(p, 0, r / OH, kt), ih = input_index(p, 1, r % OH, kr);
      if (id < 0 || id >= D || ih < 0 || ih >= H)
        std::fill(out, out + OW, 0.f);
      else
        im2col::gather_row(xc + (id * H + ih) * W, offset, p.stride[2], v.lo, v.hi, OW, out);
    }
  }
}

void vol2col(const Conv3dParams& p, const float* xg, int64_t r0, int64_t r1, float* cols,
             int64_t ld, bool threaded) {
  const int64_t rows = p.Cg() * p.taps();
  if (!threaded) {
    vol2col_rows(p, xg, r0, r1, 0, rows, cols, ld);
    return;
  }
  run_team(cnnnative::num_threads(), [&](int64_t t, int64_t nt) {
    const int64_t a = rows * t / nt, b = rows * (t + 1) / nt;
    vol2col_rows(p, xg, r0, r1, a, b, cols + a * ld, ld);
  });
}

namespace {

void col2vol_channels(const Conv3dParams& p, const float* cols, int64_t ld, int64_t r0, int64_t r1,
                      int64_t c0, int64_t c1, float* dxg) {
  const int64_t D = p.in[0], H = p.in[1], W = p.in[2];
  const int64_t taps = p.taps(), R = p.kernel[1], S = p.kernel[2];
  const int64_t OH = p.out(1), OW = p.out(2);
  for (int64_t c = c0; c < c1; ++c) {
    float* dxc = dxg + c * D * H * W;
    for (int64_t tap = 0; tap < taps; ++tap) {
      const int64_t ks = tap % S, kr = (tap / S) % R, kt = tap / (S * R);
      const int64_t offset = ks * p.dilation[2] - p.pad_lo[2];
      const ValidRange v = valid_output_range(offset, p.stride[2], W, OW);
      const float* src = cols + (c * taps + tap) * ld;
      for (int64_t r = r0; r < r1; ++r, src += OW) {
        const int64_t id = input_index(p, 0, r / OH, kt), ih = input_index(p, 1, r % OH, kr);
        if (id < 0 || id >= D || ih < 0 || ih >= H) continue;
        im2col::scatter_add_row(src, offset, p.stride[2], v.lo, v.hi, dxc + (id * H + ih) * W);
      }
    }
  }
}

}  // namespace

void col2vol(const Conv3dParams& p, const float* cols, int64_t ld, int64_t r0, int64_t r1,
             float* dxg, bool threaded) {
  const int64_t Cg = p.Cg();
  if (!threaded) {
    col2vol_channels(p, cols, ld, r0, r1, 0, Cg, dxg);
    return;
  }
  run_team(cnnnative::num_threads(), [&](int64_t t, int64_t nt) {
    col2vol_channels(p, cols, ld, r0, r1, Cg * t / nt, Cg * (t + 1) / nt, dxg);
  });
}

}  // namespace conv3d
}  // namespace cnnnative
