// Lifetime-based placement of buffers in one arena.
//
// Each request is a size and a closed interval [first, last] of node indices during
// which the buffer must keep its bytes. Two requests whose intervals intersect must not
// overlap in memory; all others may share bytes. Placement is greedy: biggest first
// (big buffers are hardest to fit later), each put in the smallest gap between
// already-placed conflicting buffers that holds it (best fit), or at the end.
#pragma once
#include <cstdint>
#include <vector>

namespace cnnnative {
namespace engine {

struct ArenaRequest {
  int64_t bytes = 0;
  int first = 0, last = 0;
};

struct ArenaLayout {
  std::vector<int64_t> offsets;  // per request, multiples of `alignment`
  int64_t total_bytes = 0;       // the arena's size (peak)
};

ArenaLayout plan_arena(const std::vector<ArenaRequest>& requests, int64_t alignment = 64);

}  // namespace engine
}  // namespace cnnnative
