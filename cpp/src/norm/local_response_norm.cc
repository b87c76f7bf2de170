// Local response norm across channels, forward and backward.
// Work is split into tasks of (sample n, a block of kColumns spatial positions); a
// task runs through all channels of its block, so the channel window stays in cache.
#include <limits>
#include <vector>

#include "cnnnative/errors.h"
#include "cnnnative/thread_pool.h"
#include "cnnnative/threads.h"
#include "norm/kernels.h"
#include "norm/norm.h"
#include "norm/stats.h"

namespace cnnnative {
namespace norm {
namespace {

constexpr int64_t kColumns = 64;

// Calls body(scratch, x_offset, columns) for every (n, column block) task, the team
// over tasks; each thread owns `scratch_per_column * kColumns` floats of scratch.
template <class Body>
void for_each_block(const NormShape& s, int64_t scratch_per_column, Body body) {
  const int64_t blocks_per_sample = (s.S + kColumns - 1) / kColumns;
  const int64_t tasks = s.N * blocks_per_sample;
  if (tasks == 0 || s.C == 0) return;
  const int threads = s.numel() >= kParallelMinElements / 4 ? num_threads() : 1;
  const int64_t scratch_len = checked_mul(scratch_per_column, kColumns, "scratch size");
  // Allocated here, not inside the parallel region, where a failure could not be
  // reported. NaN-filled: the kernels write every scratch element before reading it.
  std::vector<float> scratch(static_cast<size_t>(checked_mul(scratch_len, threads, "scratch size")),
                             std::numeric_limits<float>::quiet_NaN());
  run_team(threads, [&](int tid, int team) {
    float* mine = scratch.data() + scratch_len * tid;
    const auto [task_begin, task_end] = team_share(tasks, tid, team);
    for (int64_t task = task_begin; task < task_end; ++task) {
      const int64_t n = task / blocks_per_sample, block = task % blocks_per_sample;
      const int64_t first = block * kColumns;
      const int64_t columns = s.S - first < kColumns ? s.S - first : kColumns;
      body(mine, n * s.C * s.S + first, columns);
    }
  });
}

}  // namespace

void local_response_norm_forward(const NormShape& s, const LrnParams& p, const float* x, float* y) {
  s.validate();
  p.validate();
  const Kernels& k = kernels();
  const float alpha_over_size = static_cast<float>(p.alpha / static_cast<double>(p.size));
  for_each_block(s, 1, [&](float* scratch, int64_t offset, int64_t columns) {
    k.lrn_forward(x + offset, y + offset, s.C, s.S, columns, p.size, static_cast<float>(p.k),
                  alpha_over_size, static_cast<float>(p.beta), scratch);
  });
}

void local_response_norm_backward(const NormShape& s, const LrnParams& p, const float* dy,
                                  const float* x, float* dx) {
  s.validate();
  p.validate();
  const Kernels& k = kernels();
  const float alpha_over_size = static_cast<float>(p.alpha / static_cast<double>(p.size));
  const int64_t scratch_per_column = checked_add(checked_mul(2, s.C), 1);
  for_each_block(s, scratch_per_column, [&](float* scratch, int64_t offset, int64_t columns) {
    k.lrn_backward(dy + offset, x + offset, dx + offset, s.C, s.S, columns, p.size,
                   static_cast<float>(p.k), alpha_over_size, static_cast<float>(p.beta), scratch);
  });
}

}  // namespace norm
}  // namespace cnnnative
