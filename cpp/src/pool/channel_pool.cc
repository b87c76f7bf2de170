// Threaded drivers for cross-channel pooling (see pool/channel_pool.h). Work items are
// (group, block of kBlock positions), so a batch of one with few groups still splits
// across threads, and each thread's block stays in cache across the group's k channels.
#include <cstdint>

#include "act/isa_table.h"
#include "act/parallel.h"
#include "cnnnative/errors.h"
#include "pool/channel_pool.h"

namespace cnnnative {
namespace {

constexpr int64_t kBlock = 4096;       // positions per work item
constexpr int64_t kGrainWork = 32768;  // about this many elements read per thread at least

const ChannelPoolKernels& kernels() {
  return table_for_active_isa(channel_pool_kernels_scalar, channel_pool_kernels_avx2, channel_pool_kernels_avx512);
}

// Calls fn(group, s0, s1) for every work item, threaded.
template <typename Fn>
void for_blocks(int64_t groups, int64_t k, int64_t S, Fn fn) {
  const int64_t blocks = S / kBlock + (S % kBlock != 0);
  const int64_t per_item = k * (S < kBlock ? S : kBlock);
  const int64_t grain = per_item >= kGrainWork ? 1 : kGrainWork / (per_item > 0 ? per_item : 1);
  parallel_for(groups * blocks, grain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const int64_t group = i / blocks, s0 = (i % blocks) * kBlock;
      fn(group, s0, S - s0 < kBlock ? S : s0 + kBlock);
    }
  });
}

}  // namespace

void max_pool_channels_forward(const float* x, float* y, int32_t* idx, int64_t groups, int64_t k, int64_t S) {
  const ChannelPoolKernels& kr = kernels();
  for_blocks(groups, k, S, [&](int64_t g, int64_t s0, int64_t s1) {
    kr.max_forward(x + g * k * S, y + g * S, idx ? idx + g * S : nullptr, k, S, s0, s1);
  });
}

void max_pool_channels_backward(const float* g, const int32_t* idx, float* gx, int64_t groups, int64_t k, int64_t S) {
  const int64_t total = groups * S;
  for (int64_t i = 0; i < total; ++i)
    if (idx[i] < 0 || idx[i] >= k)
      throw std::invalid_argument(concat("max_pool_channels_backward: indices[", i, "] = ", idx[i],
                                         " is not a piece of a group of ", k, " channels"));
  const ChannelPoolKernels& kr = kernels();
  for_blocks(groups, k, S, [&](int64_t grp, int64_t s0, int64_t s1) {
    kr.max_backward(g + grp * S, idx + grp * S, gx + grp * k * S, k, S, s0, s1);
  });
}

void avg_pool_channels_forward(const float* x, float* y, int64_t groups, int64_t k, int64_t S) {
  const ChannelPoolKernels& kr = kernels();
  for_blocks(groups, k, S, [&](int64_t g, int64_t s0, int64_t s1) { kr.avg_forward(x + g * k * S, y + g * S, k, S, s0, s1); });
}

void avg_pool_channels_backward(const float* g, float* gx, int64_t groups, int64_t k, int64_t S) {
  const ChannelPoolKernels& kr = kernels();
  for_blocks(groups, k, S, [&](int64_t grp, int64_t s0, int64_t s1) {
    kr.avg_backward(g + grp * S, gx + grp * k * S, k, S, s0, s1);
  });
}

}  // namespace cnnnative
