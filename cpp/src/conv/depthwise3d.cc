// The direct depthwise 3-D convolution (groups == C == K): each (image, channel) plane is
// copied into a zero-padded scratch plane, then the per-ISA plane kernels
// (depthwise3d_kernels.h) run without bounds checks. Planes are split across threads;
// the weight gradient splits channels (each thread owns its channels' taps).
// The stride-1 input gradient runs as the forward with the kernel flipped
// (conv3d_gemm.cc); other strides scatter into a padded plane and crop it.
#include <algorithm>
#include <cstring>
#include <vector>

#include "cnnnative/thread_pool.h"
#include "cnnnative/threads.h"
#include "conv/conv3d.h"
#include "conv/depthwise3d_kernels.h"
#include "act/isa_table.h"

namespace cnnnative {
namespace conv3d {
namespace {

const DepthwiseKernels& kernels() {
  return table_for_active_isa(depthwise_kernels_scalar(), depthwise_kernels_avx2(),
                              depthwise_kernels_avx512());
}

struct Padded {
  int64_t DP, HP, WP;
  int64_t volume() const { return DP * HP * WP; }
};

Padded padded_plane(const Conv3dParams& p) {
  return {p.in[0] + p.pad_lo[0] + p.pad_hi[0], p.in[1] + p.pad_lo[1] + p.pad_hi[1],
          p.in[2] + p.pad_lo[2] + p.pad_hi[2]};
}

PlaneGeometry geometry(const Conv3dParams& p, const Padded& pad) {
  return {p.out(0),      p.out(1),      p.out(2),      p.kernel[0],   p.kernel[1],
          p.kernel[2],   p.stride[0],   p.stride[1],   p.stride[2],   p.dilation[0],
          p.dilation[1], p.dilation[2], pad.HP,        pad.WP};
}

// src (D x H x W) into the interior of dst (the padded plane), zeros around it.
void pad_into(const Conv3dParams& p, const Padded& pad, const float* src, float* dst) {
  std::fill(dst, dst + pad.volume(), 0.f);
  const int64_t D = p.in[0], H = p.in[1], W = p.in[2];
  for (int64_t id = 0; id < D; ++id)
    for (int64_t ih = 0; ih < H; ++ih)
      std::memcpy(dst + ((id + p.pad_lo[0]) * pad.HP + ih + p.pad_lo[1]) * pad.WP + p.pad_lo[2],
                  src + (id * H + ih) * W, sizeof(float) * size_t(W));
}

}  // namespace

void depthwise_forward(const Conv3dParams& p, const float* x, const float* w, const float* bias,
                       float* y) {
  const Padded pad = padded_plane(p);
  const PlaneGeometry g = geometry(p, pad);
  const DepthwiseKernels& k = kernels();
  const int64_t V = p.in_volume(), OV = p.out_volume(), taps = p.taps(), planes = p.N * p.C;
  run_team(cnnnative::num_threads(), [&](int tid, int team) {
    std::vector<float> xp(static_cast<size_t>(pad.volume()));
    const auto [i_begin, i_end] = team_share(planes, tid, team);
    for (int64_t i = i_begin; i < i_end; ++i) {
      const int64_t c = i % p.C;
      pad_into(p, pad, x + i * V, xp.data());
      k.gather(g, xp.data(), w + c * taps, bias ? bias[c] : 0.f, y + i * OV);
    }
  });
}

void depthwise_backward_input(const Conv3dParams& p, const float* dy, const float* w, float* dx) {
  const Padded pad = padded_plane(p);
  const PlaneGeometry g = geometry(p, pad);
  const DepthwiseKernels& k = kernels();
  const int64_t D = p.in[0], H = p.in[1], W = p.in[2];
  const int64_t V = p.in_volume(), OV = p.out_volume(), taps = p.taps(), planes = p.N * p.C;
  run_team(cnnnative::num_threads(), [&](int tid, int team) {
    std::vector<float> dxp(static_cast<size_t>(pad.volume()));
    const auto [i_begin, i_end] = team_share(planes, tid, team);
    for (int64_t i = i_begin; i < i_end; ++i) {
      std::fill(dxp.begin(), dxp.end(), 0.f);
      k.scatter(g, dy + i * OV, w + (i % p.C) * taps, dxp.data());
      float* dxi = dx + i * V;  // the interior of the padded plane; the padding is dropped
      for (int64_t id = 0; id < D; ++id)
        for (int64_t ih = 0; ih < H; ++ih)
          std::memcpy(dxi + (id * H + ih) * W,
                      dxp.data() + ((id + p.pad_lo[0]) * pad.HP + ih + p.pad_lo[1]) * pad.WP + p.pad_lo[2],
                      sizeof(float) * size_t(W));
    }
  });
}

void depthwise_backward_weight(const Conv3dParams& p, const float* x, const float* dy, float* dw) {
  const Padded pad = padded_plane(p);
  const PlaneGeometry g = geometry(p, pad);
  const DepthwiseKernels& k = kernels();
  const int64_t V = p.in_volume(), OV = p.out_volume(), taps = p.taps();
  run_team(cnnnative::num_threads(), [&](int tid, int team) {
    std::vector<float> xp(static_cast<size_t>(pad.volume()));
    std::vector<double> sums(static_cast<size_t>(taps));
    const auto [c_begin, c_end] = team_share(p.C, tid, team);
    for (int64_t c = c_begin; c < c_end; ++c) {
      std::fill(sums.begin(), sums.end(), 0.0);
      for (int64_t n = 0; n < p.N; ++n) {
        pad_into(p, pad, x + (n * p.C + c) * V, xp.data());
        k.weight(g, xp.data(), dy + (n * p.C + c) * OV, sums.data());
      }
      for (int64_t t = 0; t < taps; ++t) dw[c * taps + t] = static_cast<float>(sums[size_t(t)]);
    }
  });
}

}  // namespace conv3d
}  // namespace cnnnative
