// The library's thread team, the only one it has (it links no OpenMP runtime): spin
// briefly, then sleep.
//
// Why not OpenMP: libgomp's idle workers either spin for a fixed count (GOMP_SPINCOUNT,
// read once at load) or sleep at once (OMP_WAIT_POLICY=passive) and are woken by futex for
// every region; spinning workers starve other processes on a shared machine; its static
// schedules make a region wait for a worker whose core another process holds; its pools
// do not survive fork; and a wheel would have to bundle libgomp. This team's idle
// members pause-spin for a few microseconds (back-to-back kernels), then spin with
// sched_yield (which hands the core to any other runnable thread at once), then sleep on a
// futex; and a region's members are claimed, not assigned: the caller runs every share no
// worker has started, so neither a sleeping worker nor a busy core holds it up. When the
// team keeps losing time to other processes, regions run on the caller alone for a while
// (a back-off, see thread_pool.cc), except those whose results depend on the team size
// (run_team_no_backoff). The lengths come from CNNNATIVE_SPIN_US, else from the user's
// OMP_WAIT_POLICY (passive: sleep at once; active: spin long) or GOMP_SPINCOUNT, else the
// default in thread_pool.cc.
//
// Rules for code that uses it:
// - run_team(threads, body) calls body(tid, team) once for each tid < team <= threads, and
//   returns when every call has returned. Its results must not depend on `team` (each
//   output computed by one member, or in parts the caller fixed), because during a back-off
//   it gets a team of 1; bodies whose members add partial sums use run_team_no_backoff.
//   The caller runs tid 0 and any member no worker started; the others run on the
//   workers, at the same time as far as the cores allow. `team` may be smaller than asked
//   (1 inside another team, or while another thread holds the team): body must be correct
//   for any team it is given.
// - Inside body, num_threads() is 1, so a kernel called from it runs on its thread alone
//   (never opens a nested team).
// - team_barrier() inside body waits for the whole team.
// - An exception thrown by any member is rethrown by run_team after all members returned.
// - fork: the child starts a fresh team when it first needs one.
#pragma once
#include <atomic>
#include <cstdint>
#include <utility>

namespace cnnnative {

namespace team_detail {
using Call = void (*)(void* body, int tid, int team);
// any_size: the body's results do not depend on the team it gets, so it may run alone
// during a busy-machine back-off.
void run(int threads, Call call, void* body, bool any_size);

template <typename Body>
void run(int threads, Body& body, bool any_size) {
  using B = std::remove_reference_t<Body>;
  run(
      threads, [](void* b, int tid, int team) { (*static_cast<B*>(b))(tid, team); },
      const_cast<void*>(static_cast<const void*>(&body)), any_size);
}
}  // namespace team_detail

// Results the same whatever team the body gets: each output is computed by one member, or
// the work is split into parts the caller fixed (not by `team`) and members loop over them.
// So it may run on the calling thread alone during the busy-machine back-off
// (thread_pool.cc) and still give the same bits on every call.
template <typename Body>
void run_team(int threads, Body&& body) {
  team_detail::run(threads, body, /*any_size=*/true);
}

// run_team for a body whose results depend on the team it gets (members' partial sums, so
// the split changes the rounding), or that measures the team itself: it asks for the team
// even during a back-off, so that its bits stay the same from call to call.
template <typename Body>
void run_team_no_backoff(int threads, Body&& body) {
  team_detail::run(threads, body, /*any_size=*/false);
}

// Waits until every member of the calling thread's team has arrived (no-op outside a team
// or in a team of one).
void team_barrier();

// True on a thread that is running a team's body.
bool in_team();

// The part [begin, end) of n items that member tid of a team of `team` takes in an even split.
inline std::pair<int64_t, int64_t> team_share(int64_t n, int tid, int team) {
  return {n * tid / team, n * (tid + 1) / team};
}

// body(i) for i in [0, n), split evenly over a team of up to `threads` (OpenMP's
// `parallel for schedule(static)`).
template <typename Body>
void team_for_each(int threads, int64_t n, Body&& body) {
  if (n <= 0) return;
  if (threads <= 1 || n == 1) {
    run_team(1, [&](int, int) { for (int64_t i = 0; i < n; ++i) body(i); });
    return;
  }
  run_team(threads, [&](int tid, int team) {  // body(i) sees no member index
    const auto [begin, end] = team_share(n, tid, team);
    for (int64_t i = begin; i < end; ++i) body(i);
  });
}

// Hands out [begin, end) chunks of n items to whichever member asks first: a member that
// starts late (its core was busy) takes fewer. Create it before run_team, share it.
class DynamicChunks {
 public:
  DynamicChunks(int64_t n, int64_t chunk) : n_(n), chunk_(chunk < 1 ? 1 : chunk) {}
  bool next(int64_t* begin, int64_t* end) {
    const int64_t b = next_.fetch_add(chunk_, std::memory_order_relaxed);
    if (b >= n_) return false;
    *begin = b;
    *end = b + chunk_ < n_ ? b + chunk_ : n_;
    return true;
  }

 private:
  std::atomic<int64_t> next_{0};
  const int64_t n_, chunk_;
};

// body(i) for i in [0, n), in chunks handed to whichever member asks first (OpenMP's
// `schedule(dynamic, chunk)`).
template <typename Body>
void team_for_each_dynamic(int threads, int64_t n, int64_t chunk, Body&& body) {
  if (n <= 0) return;
  DynamicChunks chunks(n, chunk);
  run_team(threads, [&](int, int) {
    int64_t begin, end;
    while (chunks.next(&begin, &end))
      for (int64_t i = begin; i < end; ++i) body(i);
  });
}

// How idle members wait (for cnnnative.info() and the benchmarks): microseconds of pause
// spinning, then of yielding, before they sleep; where that came from.
struct TeamWait {
  int64_t spin_us = 0, yield_us = 0;
  const char* source = "";
};
TeamWait team_wait();
// Testing and benchmarks: change the waiting for regions opened from now on (negative: keep).
void set_team_wait(int64_t spin_us, int64_t yield_us);

// The busy-machine back-off (thread_pool.cc, Contention): regions that found a member's
// core taken by another process, microseconds left of the current period in which regions
// run on the calling thread alone, and whether the back-off is on.
struct TeamContention {
  int64_t events = 0, solo_us_left = 0;
  bool enabled = true;
};
TeamContention team_contention();
// Benchmarks and tests: turn the back-off off (regions always use the team) or on again.
void set_team_contention_backoff(bool enabled);
// Benchmarks and tests: every region that may back off runs on its caller alone, as during a
// back-off (true), or as the back-off decides (false).
void set_team_always_backed_off(bool always);

}  // namespace cnnnative
