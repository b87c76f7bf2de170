// Threaded driver of the global average pooling kernels (see pool/global_avg_pool.h).
#include "pool/global_avg_pool.h"

#include "act/isa_table.h"
#include "cnnnative/thread_pool.h"

namespace cnnnative {

void global_avg_pool_planes(const float* x, int64_t planes, int64_t hw, float* y, int threads) {
  const GlobalAvgPoolKernels& k =
      table_for_active_isa(global_avg_pool_scalar, global_avg_pool_avx2, global_avg_pool_avx512);
  // Blocks of planes: one claim per ~4K values (a claim per plane cost more than the sum
  // of a 7x7 plane).
  const int64_t per_block = hw >= 4096 ? 1 : 4096 / (hw > 0 ? hw : 1);
  const int64_t blocks = (planes + per_block - 1) / per_block;
  // Below ~256K values (about 10 us on one core) a team's wake-up costs more than it saves.
  if (threads <= 1 || blocks <= 1 || planes * hw < (int64_t{1} << 18)) {
    k.means(x, planes, hw, y);
    return;
  }
  team_for_each_dynamic(threads, blocks, 1, [&](int64_t b) {
    const int64_t first = b * per_block, n = planes - first < per_block ? planes - first : per_block;
    k.means(x + first * hw, n, hw, y + first);
  });
}

}  // namespace cnnnative
