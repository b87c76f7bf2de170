// Greedy best-fit arena placement (see arena_planner.h).
#include "engine/arena_planner.h"

#include <algorithm>
#include <numeric>

#include "cnnnative/errors.h"

namespace cnnnative {
namespace engine {

static int64_t round_up(int64_t v, int64_t a) { return checked_mul((checked_add(v, a - 1, "arena size")) / a, a, "arena size"); }

ArenaLayout plan_arena(const std::vector<ArenaRequest>& requests, int64_t alignment) {
  CN_CHECK(alignment > 0, "arena alignment must be positive, got ", alignment);
  ArenaLayout layout;
  layout.offsets.assign(requests.size(), -1);
  std::vector<size_t> order(requests.size());
  std::iota(order.begin(), order.end(), size_t(0));
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return requests[a].bytes > requests[b].bytes; });

  struct Placed {
    int64_t begin, end;
  };
  std::vector<size_t> placed;  // indices into requests, already given an offset
  for (size_t idx : order) {
    const ArenaRequest& r = requests[idx];
    const int64_t size = round_up(std::max<int64_t>(r.bytes, 1), alignment);
    // Memory ranges of placed buffers that are alive at the same time as this one.
    std::vector<Placed> busy;
    for (size_t j : placed) {
      const ArenaRequest& o = requests[j];
      if (o.first <= r.last && r.first <= o.last)
        busy.push_back({layout.offsets[j], layout.offsets[j] + round_up(std::max<int64_t>(o.bytes, 1), alignment)});
    }
    std::sort(busy.begin(), busy.end(), [](const Placed& a, const Placed& b) { return a.begin < b.begin; });
    int64_t best = -1, best_gap = INT64_MAX, cursor = 0;
    for (const Placed& p : busy) {
      if (p.begin > cursor) {
        const int64_t gap = p.begin - cursor;
        if (gap >= size && gap < best_gap) {
          best = cursor;
          best_gap = gap;
        }
      }
      cursor = std::max(cursor, p.end);
    }
    if (best < 0) best = cursor;  // after everything alive: grows the arena if needed
    layout.offsets[idx] = best;
    layout.total_bytes = std::max(layout.total_bytes, checked_add(best, size, "arena size"));
    placed.push_back(idx);
  }
  return layout;
}

}  // namespace engine
}  // namespace cnnnative
