// The int8 taps path's geometry of one convolution (int8_conv.cc): the stride phase planes
// of the zero-point-padded image, where each tap reads them, and the output pixels of the
// lanes-along-M kernel. Made once with the node (int8_plan.cc), not on every run.
#pragma once
#include <algorithm>
#include <cstdint>
#include <memory>
#include <vector>

#include "cnnnative/conv_params.h"

namespace cnnnative {
namespace engine {

struct Int8TapsGeometry {
  int64_t Hq = 0, Wq = 0, phase_plane = 0, plane = 0, ext = 0;
  int64_t nb = 0;  // the largest pixel block (run_pixel_block)
  std::vector<int> phase_of;  // (ih % sh) * sw + iw % sw -> stored phase index, or -1
  std::vector<int64_t> offsets;  // per tap (r, s), from the channel's first stored phase
  // Lanes along M (int8_conv_taps_lanes_m): the GEMM's columns are the output pixels, at
  // these offsets in the planes; empty otherwise.
  std::vector<int64_t> pixels;
  int64_t padded_bytes(int64_t images, int64_t C) const { return (images * C * plane + 63) / 64 * 64; }
  // The same images with 4 channels per pixel (quads per group, see fill_quad_planes), and
  // the 60 bytes past the last pixel the VNNI tile may read.
  int64_t padded_c4_bytes(int64_t images, int64_t G, int64_t quads) const {
    return (images * G * quads * 4 * plane + 64 + 63) / 64 * 64;
  }
  // Images padded at a time: all of a small batch, at most about 4 MiB of planes (at least
  // one image), so the scratch does not grow with the batch.
  int64_t chunk_images(int64_t batch, int64_t C) const {
    return std::max<int64_t>(1, std::min<int64_t>(batch, (int64_t(4) << 20) / std::max<int64_t>(C * plane, 1)));
  }
};

// p's geometry; `lanes_m` fills `pixels`.
std::shared_ptr<const Int8TapsGeometry> int8_taps_geometry(const ConvParams& p, bool lanes_m);

}  // namespace engine
}  // namespace cnnnative
