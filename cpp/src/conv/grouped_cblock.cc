// The ISA-neutral part of the channel-blocked grouped convolution (grouped_cblock.h).
#include "conv/grouped_cblock.h"

#include <algorithm>
#include <vector>

#include "cnnnative/isa.h"
#include "conv/depthwise_cblock.h"

namespace cnnnative {
namespace grouped {

namespace {
int64_t channels_per_group(const ConvParams& p) { return p.groups > 0 ? p.C / p.groups : 0; }
// Floats per padded input row: the plain 16-channel vectors (two sets for CG = 32: the
// block's group spans two blocks), plus the spread copies (CG per pixel) for CG < 16.
int64_t row_floats(const ConvParams& p) {
  const int64_t cg = channels_per_group(p), PW = p.W + p.pad_left + p.pad_right;
  return PW * 16 * (cg < 16 ? 1 + cg : cg / 16);
}
}  // namespace

bool geometry_ok(const ConvParams& p) {
  const int64_t cg = channels_per_group(p);
  return p.groups > 1 && p.K == p.C && p.C % p.groups == 0 && (cg == 4 || cg == 8 || cg == 16 || cg == 32) && p.R == 3 &&
         p.S == 3 && p.dilation_h == 1 && p.dilation_w == 1 && p.stride_h == p.stride_w &&
         (p.stride_w == 1 || p.stride_w == 2) && p.output_h() >= 1 && p.output_w() >= 1;
}

bool use_channel_blocks(const ConvParams& p) { return active_isa() == Isa::avx512 && geometry_ok(p); }

int64_t band_rows(const ConvParams& p) {
  constexpr int64_t kBandFloats = 65536;  // 256 KB of input band: well inside L2
  const int64_t rows_that_fit = kBandFloats / row_floats(p);
  const int64_t band = (rows_that_fit - p.R) / p.stride_h + 1;
  return std::max<int64_t>(1, std::min(band, p.output_h()));
}

int64_t scratch_floats(const ConvParams& p, int64_t band) {
  const int64_t in_rows = (band - 1) * p.stride_h + p.R;
  return in_rows * row_floats(p) + band * p.output_w() * 16 + p.R * p.S * channels_per_group(p) * 16 + 256;
}

void forward(const ConvParams& p, int64_t batch, const float* x, const float* w, const float* bias,
             const float* residual, float* y, int act, int threads,
             const std::function<void(float*, int64_t, int, int64_t, int64_t)>& after) {
  const int64_t P = p.output_h() * p.output_w(), HW = p.H * p.W;
  std::vector<float> zeros;
  if (!bias) {
    zeros.assign(static_cast<size_t>(p.K), 0.f);
    bias = zeros.data();
  }
  depthwise::for_each_channel_block(
      batch, p.C, p.output_h(), band_rows(p), threads, [&](int64_t band) { return scratch_floats(p, band); },
      [&](float* scratch, int64_t image, int64_t c0, int nc, int64_t oh0, int64_t oh1) {
        float* y_img = y + image * p.K * P;
        band__avx512(p, x + image * p.C * HW, w, bias, c0, nc, oh0, oh1, residual ? residual + image * p.K * P : nullptr,
                     y_img, act, scratch);
        if (after) after(y_img, c0, nc, oh0, oh1);
      });
}

}  // namespace grouped
}  // namespace cnnnative
