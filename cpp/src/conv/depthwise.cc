// Direct depthwise convolution driver: threads over (image, channel) planes, the ISA's
// per-plane kernels, and the registered algorithm "direct".
#include "cnnnative/depthwise.h"


#include <algorithm>
#include <cstring>

#include "autotune.h"

#include "cnnnative/conv.h"
#include "cnnnative/errors.h"
#include "cnnnative/thread_pool.h"
#include "cnnnative/threads.h"
#include "depthwise_cblock.h"
#include "depthwise_kernels.h"

namespace cnnnative {
namespace {

// body(i, scratch) for i in [0, count), split statically over the threads; each thread
// has its own `scratch_floats` of 64-byte aligned scratch.
template <class Body>
void for_each_with_scratch(int64_t count, int64_t scratch_floats, Body body) {
  const int nt = num_threads();
  ScratchBuffer scratch(static_cast<size_t>(checked_numel({nt, scratch_floats}, "depthwise workspace")));
  run_team(nt, [&](int tid, int team) {
    float* mine = scratch.data() + tid * scratch_floats;
    const auto [begin, end] = team_share(count, tid, team);
    for (int64_t i = begin; i < end; ++i) body(i, mine);
  });
}

}  // namespace

bool depthwise_supports(const ConvParams& p, std::string* why) {
  if (p.groups != p.C || p.groups < 1) {
    if (why) *why = concat("direct needs a depthwise convolution (groups == input channels), got groups=",
                           p.groups, " with ", p.C, " channels");
    return false;
  }
  return true;
}

void depthwise_forward(const ConvParams& p, const float* x, const float* w, const float* bias, float* y) {
  if (depthwise::use_channel_blocks(p)) {  // 16 channels per vector where measured faster
    depthwise::channel_blocks_forward(p, p.N, x, w, bias, nullptr, y, 0, num_threads());
    return;
  }
  const depthwise::Kernels& kern = depthwise::kernels_for(active_isa());
  const int64_t mult = p.K / p.C, in_plane = p.H * p.W, out_plane = p.output_h() * p.output_w();
  const int64_t taps = p.R * p.S, planes = p.N * p.K;
  for_each_with_scratch(planes, depthwise::padded_plane_floats(p), [&](int64_t nk, float* scratch) {
    const int64_t n = nk / p.K, k = nk % p.K;
    kern.forward(p, x + (n * p.C + k / mult) * in_plane, w + k * taps, bias ? bias[k] : 0.f, y + nk * out_plane,
                 scratch, 0);
  });
}

namespace {

// At stride 1 the input gradient is itself a depthwise convolution: dy correlated with the
// filter turned by 180 degrees, padded by dilation * (R - 1) - pad on each side. With one
// output channel per input channel (multiplier 1) the forward plane kernels (register
// blocks, flat narrow planes) then do the work, writing dx instead of accumulating into it
// tap by tap. Returns the parameters of that convolution, or false where it does not apply.
bool backward_as_forward(const ConvParams& p, ConvParams* q) {
  const int64_t span_h = p.dilation_h * (p.R - 1), span_w = p.dilation_w * (p.S - 1);
  if (p.K != p.C || p.stride_h != 1 || p.stride_w != 1 || p.R * p.S > 64) return false;
  if (p.pad_top > span_h || p.pad_bottom > span_h || p.pad_left > span_w || p.pad_right > span_w) return false;
  *q = p;
  q->H = p.output_h();
  q->W = p.output_w();
  q->pad_top = span_h - p.pad_top;
  q->pad_bottom = span_h - p.pad_bottom;
  q->pad_left = span_w - p.pad_left;
  q->pad_right = span_w - p.pad_right;
  return q->output_h() == p.H && q->output_w() == p.W;
}

}  // namespace

void depthwise_backward_input(const ConvParams& p, const float* dy, const float* w, float* dx) {
  const depthwise::Kernels& kern = depthwise::kernels_for(active_isa());
  const int64_t mult = p.K / p.C, in_plane = p.H * p.W, out_plane = p.output_h() * p.output_w();
  const int64_t taps = p.R * p.S, planes = p.N * p.C;
  ConvParams q;
  if (backward_as_forward(p, &q)) {
    for_each_with_scratch(planes, depthwise::padded_plane_floats(q), [&](int64_t nc, float* scratch) {
      const float* wc = w + (nc % p.C) * taps;
      float turned[64];
      for (int64_t t = 0; t < taps; ++t) turned[t] = wc[taps - 1 - t];
      kern.forward(q, dy + nc * out_plane, turned, 0.f, dx + nc * in_plane, scratch, 0);
    });
    return;
  }
  // One thread per input plane: it sums the mult output channels that read it.
  team_for_each(num_threads(), planes, [&](int64_t nc) {
    const int64_t n = nc / p.C, c = nc % p.C;
    float* dxp = dx + nc * in_plane;
    std::memset(dxp, 0, sizeof(float) * in_plane);
    for (int64_t j = 0; j < mult; ++j) {
      const int64_t k = c * mult + j;
      kern.backward_input(p, dy + (n * p.K + k) * out_plane, w + k * taps, dxp);
    }
  });
}

bool depthwise_backward_weight(const ConvParams& p, const float* x, const float* dy, float* dw, float* db) {
  p.validate();
  if (!depthwise_supports(p, nullptr)) return false;
  const depthwise::Kernels& kern = depthwise::kernels_for(active_isa());
  const int64_t mult = p.K / p.C, in_plane = p.H * p.W, out_plane = p.output_h() * p.output_w();
  const int64_t taps = p.R * p.S;
  // One thread per output channel: it owns dw[k] and db[k] and sums over the batch.
  for_each_with_scratch(p.K, depthwise::padded_plane_floats(p), [&](int64_t k, float* scratch) {
    float* dwk = dw + k * taps;
    for (int64_t t = 0; t < taps; ++t) dwk[t] = 0.f;
    double bias_sum = 0.0;
    for (int64_t n = 0; n < p.N; ++n) {
      const float* dyp = dy + (n * p.K + k) * out_plane;
      kern.backward_weight(p, x + (n * p.C + k / mult) * in_plane, dyp, dwk, scratch);
      if (db)
        for (int64_t i = 0; i < out_plane; ++i) bias_sum += dyp[i];
    }
    if (db) db[k] = static_cast<float>(bias_sum);
  });
  return true;
}

namespace {
size_t direct_workspace(const ConvParams& p) {
  int64_t floats = depthwise::padded_plane_floats(p);
  ConvParams q;  // the input gradient's forward convolution, where it runs as one
  if (backward_as_forward(p, &q)) floats = std::max(floats, depthwise::padded_plane_floats(q));
  return size_t(num_threads()) * size_t(floats) * sizeof(float);
}
}  // namespace

CNNNATIVE_REGISTER_CONV_ALGORITHM(direct, ConvAlgorithm{"direct", &depthwise_supports, &depthwise_forward,
                                                        &depthwise_backward_input, &direct_workspace});

}  // namespace cnnnative
