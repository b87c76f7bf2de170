// Depthwise convolution (groups == C == K): each channel is convolved with its own
// R x S filter by the op-level per-plane kernels (conv/depthwise_kernels.h: AVX-512 row
// blocks, stride-2 permutes, flat narrow planes), parallel over (image, channel); the
// epilogue (residual, activation) runs on each plane right after, while it is in cache.
// The bias is folded into the kernel's accumulators.
#include <omp.h>

#include "conv/autotune.h"  // ScratchBuffer
#include "cnnnative/isa.h"
#include "conv/depthwise_kernels.h"
#include "engine/kernels.h"

namespace cnnnative {
namespace engine {

void depthwise_forward(const Node& n, int64_t batch, const float* x, const float* residual, float* y,
                       int threads) {
  const ConvParams& p = n.conv;
  const depthwise::Kernels& kern = depthwise::kernels_for(active_isa());
  const int64_t OH = p.output_h(), OW = p.output_w(), HW = p.H * p.W, P = OH * OW;
  const int64_t planes = batch * p.C, scratch_floats = depthwise::padded_plane_floats(p);
  const int act = static_cast<int>(n.act);
  ScratchBuffer scratch(static_cast<size_t>(threads * scratch_floats));
#pragma omp parallel num_threads(threads)
  {
    float* mine = scratch.data() + omp_get_thread_num() * scratch_floats;
#pragma omp for schedule(static)
    for (int64_t plane = 0; plane < planes; ++plane) {
      const int64_t c = plane % p.C;
      float* yc = y + plane * P;
      kern.forward(p, x + plane * HW, n.weight.data() + c * p.R * p.S, n.bias[c], yc, mine);
      if (residual || act != 0) kern.epilogue(yc, residual ? residual + plane * P : nullptr, P, act);
    }
  }
}

}  // namespace engine
}  // namespace cnnnative
