// Splitting a range of independent work items across the library's threads.
//
// The per-ISA kernels in act/, pool/, loss/, optim/, linear/ and dropout/ are written for one
// thread over a range [begin, end); the drivers hand each thread one contiguous piece with
// parallel_for. Small ranges (fewer than `grain` items per thread) run on the calling thread,
// so tiny tensors do not pay for waking a team. The team is run_team's (thread_pool.h).
#pragma once
#include <cstdint>

#include "cnnnative/thread_pool.h"
#include "cnnnative/threads.h"

namespace cnnnative {

// How many members to split n items over: at least `grain` items each, at most
// num_threads(); 1 means run on the calling thread.
inline int team_for(int64_t n, int64_t grain) {
  if (grain < 1) grain = 1;
  const int64_t teams = n / grain, want = num_threads();
  return static_cast<int>(teams < want ? (teams < 1 ? 1 : teams) : want);
}

// body(t, begin, end) with the member index t < num_threads(), for per-thread scratch.
template <typename Body>
void parallel_for_indexed(int64_t n, int64_t grain, Body body) {
  if (n <= 0) return;
  const int teams = team_for(n, grain);
  if (teams <= 1) {
    body(0, int64_t(0), n);
    return;
  }
  run_team_no_backoff(teams, [&](int t, int nt) {
    const auto [begin, end] = team_share(n, t, nt);
    if (begin < end) body(t, begin, end);
  });
}

// body(begin, end) sees only its range, not the member, so every item is computed the same
// whoever runs it: the results do not depend on the team, and the busy-machine back-off may
// run the loop on the caller alone (run_team). (parallel_for_indexed's bodies keep
// per-member partial sums, so it keeps its team: run_team_no_backoff.) Kernels that sum
// across ranges do so in pieces the caller fixes (sum_of_squares, the pointwise losses),
// never per member.
template <typename Body>
void parallel_for(int64_t n, int64_t grain, Body body) {
  if (n <= 0) return;
  const int teams = team_for(n, grain);
  if (teams <= 1) {
    body(int64_t(0), n);
    return;
  }
  run_team(teams, [&](int t, int nt) {
    const auto [begin, end] = team_share(n, t, nt);
    if (begin < end) body(begin, end);
  });
}

}  // namespace cnnnative
