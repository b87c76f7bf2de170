// pixel_shuffle and pixel_unshuffle as engine nodes: the layout kernels of src/resample
// (row interleaves) from the input's arena buffer into the output's, no other copy.
#include "engine/kernels.h"
#include "resample/resample.h"

namespace cnnnative {
namespace engine {

namespace {

using LayoutKernel = void (*)(const float*, float*, int64_t, int64_t, int64_t, int64_t, int64_t);

// kernel(x, y, outer, c, h, w, r) over `planes` = batch * c planes of `plane` floats each
// (the same count in and out); one plane per call when the node runs on one thread.
void run_planes(LayoutKernel kernel, const float* x, float* y, int64_t batch, int64_t c, int64_t h, int64_t w,
                int64_t r, int64_t plane, int threads) {
  if (threads > 1) {
    kernel(x, y, batch, c, h, w, r);
    return;
  }
  for (int64_t p = 0; p < batch * c; ++p) kernel(x + p * plane, y + p * plane, 1, 1, h, w, r);
}

}  // namespace

// (N, C r r, H, W) -> (N, C, H r, W r): a plane is one output plane (r * r input planes).
void pixel_shuffle_node_forward(const Node& n, int64_t batch, const float* x, float* y, int threads) {
  const int64_t r = n.factor, h = n.in_shape[2], w = n.in_shape[3];
  run_planes(pixel_shuffle, x, y, batch, n.out_shape[1], h, w, r, h * w * r * r, threads);
}

// (N, C, H r, W r) -> (N, C r r, H, W): a plane is one input plane (r * r output planes).
void pixel_unshuffle_node_forward(const Node& n, int64_t batch, const float* x, float* y, int threads) {
  const int64_t r = n.factor, h = n.out_shape[2], w = n.out_shape[3];
  run_planes(pixel_unshuffle, x, y, batch, n.in_shape[1], h, w, r, h * w * r * r, threads);
}

}  // namespace engine
}  // namespace cnnnative
