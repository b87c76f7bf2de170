// interpolate (nearest, nearest-exact, bilinear) as an engine node: the resample kernels of
// src/resample run straight from the input's arena buffer into the output's, the same code
// and float32 rules as the eager op, so compiled equals eager bit for bit.
#include <algorithm>

#include "cnnnative/errors.h"
#include "engine/kernels.h"
#include "resample/resample.h"

namespace cnnnative {
namespace engine {

namespace {

// The kernel's parameters for `batch` images of the node's (N, C, H, W) input; depth is the
// identity axis of length 1.
ResampleParams interpolate_params(const Node& n, int64_t batch) {
  ResampleParams p;
  p.planes = checked_mul(batch, n.in_shape[1], "batch * channels");
  p.axis[1] = {n.in_shape[2], n.out_shape[2], n.interp.scale_h};
  p.axis[2] = {n.in_shape[3], n.out_shape[3], n.interp.scale_w};
  p.mode = static_cast<ResampleMode>(static_cast<int>(n.interp.mode));
  p.align_corners = n.interp.align_corners;
  return p;
}

// resample_forward's own grain: it opens no team for fewer output elements than this.
constexpr int64_t kKernelGrainElements = 16384;

}  // namespace

void check_interpolate_node(const Node& n) { validate_resample(interpolate_params(n, n.in_shape[0]), "interpolate"); }

void interpolate_node_forward(const Node& n, int64_t batch, const float* x, float* y, int threads) {
  ResampleParams p = interpolate_params(n, batch);
  if (threads > 1) {
    resample_forward(p, x, y);
    return;
  }
  // A node the executor judged too small for a team runs on the calling thread: calls of
  // at most one kernel grain of planes each, which the kernel runs serially.
  const int64_t in_plane = n.in_shape[2] * n.in_shape[3], out_plane = n.out_shape[2] * n.out_shape[3];
  const int64_t chunk = std::max<int64_t>(1, kKernelGrainElements / std::max<int64_t>(1, out_plane));
  const int64_t planes = p.planes;
  for (int64_t first = 0; first < planes; first += chunk) {
    p.planes = std::min(chunk, planes - first);
    resample_forward(p, x + first * in_plane, y + first * out_plane);
  }
}

}  // namespace engine
}  // namespace cnnnative
