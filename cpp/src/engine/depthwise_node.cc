// Depthwise convolution (groups == C == K): on AVX-512, the shapes where it was measured
// faster run with 16 channels per vector (conv/depthwise_cblock.h); the others run each
// channel with its own R x S filter through the op-level per-plane kernels (conv/depthwise_kernels.h: AVX-512 row
// blocks, stride-2 permutes, flat narrow planes), parallel over (image, channel); the
// activation is applied as the kernel stores (AVX-512) or right after, and a residual is
// added on each plane right after, while it is in cache.
// The bias is folded into the kernel's accumulators.
#include "conv/autotune.h"  // ScratchBuffer
#include "cnnnative/isa.h"
#include "cnnnative/thread_pool.h"
#include "conv/depthwise_cblock.h"
#include "conv/depthwise_kernels.h"
#include "engine/kernels.h"

namespace cnnnative {
namespace engine {

void depthwise_forward(const Node& n, int64_t batch, const float* x, const float* residual, float* y,
                       int threads) {
  const ConvParams& p = n.conv;
  if (depthwise::use_channel_blocks(p)) {  // 16 channels per vector (conv/depthwise_cblock.h)
    const ActivationPass pass = node_activation_pass(n);
    const int64_t OW = p.output_w(), P = p.output_h() * OW;
    depthwise::channel_blocks_forward(p, batch, x, n.weight.data(), n.bias.data(), residual, y,
                                      static_cast<int>(stored_part(n.act)), threads,
                                      [&](float* y_img, int64_t c0, int nc, int64_t oh0, int64_t oh1) {
                                        pass.apply_rows(y_img + c0 * P + oh0 * OW, nc, (oh1 - oh0) * OW, P, c0);
                                      });
    return;
  }
  const depthwise::Kernels& kern = depthwise::kernels_for(active_isa());
  const int64_t OH = p.output_h(), OW = p.output_w(), HW = p.H * p.W, P = OH * OW;
  const int64_t planes = batch * p.C, scratch_floats = depthwise::padded_plane_floats(p);
  const int act = static_cast<int>(stored_part(n.act));
  const ActivationPass pass = node_activation_pass(n);  // the other activations, per plane
  ScratchBuffer scratch(static_cast<size_t>(threads * scratch_floats));
  run_team(threads, [&](int tid, int team) {
    float* mine = scratch.data() + tid * scratch_floats;
    const auto [first_plane, end_plane] = team_share(planes, tid, team);
    for (int64_t plane = first_plane; plane < end_plane; ++plane) {
      const int64_t c = plane % p.C;
      float* yc = y + plane * P;
      // Without a residual the kernel applies the activation as it stores; with one, the
      // residual is added first and the activation after, in one pass over the plane.
      kern.forward(p, x + plane * HW, n.weight.data() + c * p.R * p.S, n.bias[c], yc, mine, residual ? 0 : act);
      if (residual) kern.epilogue(yc, residual + plane * P, P, act);
      pass.apply(yc, P, c);
    }
  });
}

}  // namespace engine
}  // namespace cnnnative
