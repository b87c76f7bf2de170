// The team behind run_team (cnnnative/thread_pool.h): persistent workers, one region at a
// time, each idle member waiting by pause-spin, then sched_yield, then a futex sleep.
//
// Hand-off: the caller writes the region (body, team size, counters), then bumps each
// needed worker's own `go` word and wakes it only if it is asleep. A worker's `sleeping`
// flag and the caller's bump are both sequentially consistent, so either the worker sees
// the new word before it sleeps or the caller sees the flag and wakes it (futex_wait also
// rechecks the word atomically). The last worker to finish bumps `done` for the caller the
// same way; barriers use a generation word.
//
// Members are claimed, not assigned: a woken worker takes the next member index nobody
// has started, and the caller, once done with member 0, takes every index still
// unclaimed. So a worker whose core is busy with another process (or that is still waking
// from a futex sleep) never holds up the region: its share runs on the caller, and the
// region costs what one thread would, not a scheduler time slice. Each index still runs
// exactly once, on one thread, so per-member scratch and even splits stay valid; a body
// that uses team_barrier has all of its members claimed by distinct threads (none can
// finish, and claim another, before all arrive).
#include "cnnnative/thread_pool.h"

#include <immintrin.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace cnnnative {
namespace {

// Default waiting of an idle worker: 10 us of pause-spin covers back-to-back kernels (an
// engine's next node); 90 us more of yielding covers the Python between two ops of a
// training step, while giving the core to anything else that wants it; then sleep. A
// region's caller waiting for members to finish pause-spins the same 100 us instead (see
// wait_for_change). Measured, 2 threads (benchmarks/bench_wait_policy.py, quiet): with workers
// that sleep after 10 us and a caller that did too, ResNet-18 b1 3.7 vs 2.8 ms and
// Trainer.step 14.9 vs 10.1 ms (the caller's futex wake-up); beside a busy process the two
// were within noise (bench_busy_threads.py: 2 threads / 1 thread 1.12 vs 1.17).
constexpr int64_t kDefaultSpinUs = 10, kDefaultYieldUs = 90;
constexpr int kMaxWorkers = 4095;

int64_t now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

int64_t thread_cpu_ns() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return int64_t(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

void futex_wait(std::atomic<uint32_t>* word, uint32_t expected) {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAIT_PRIVATE, expected, nullptr, nullptr, 0);
}

void futex_wake(std::atomic<uint32_t>* word, int count) {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAKE_PRIVATE, count, nullptr, nullptr, 0);
}

struct WaitPolicy {
  std::atomic<int64_t> spin_ns{kDefaultSpinUs * 1000}, yield_ns{kDefaultYieldUs * 1000};
  const char* source = "cnnnative default";
};

bool read_count(const char* name, int64_t* value) {
  const char* text = std::getenv(name);
  if (!text || !*text) return false;
  char* end = nullptr;
  const long long v = std::strtoll(text, &end, 10);
  if (*end != '\0' || v < 0) return false;
  *value = v;
  return true;
}

// Read when the first team starts, after cnnnative's __init__ removed its own
// OMP_WAIT_POLICY default again (_wait_policy.py), so only the user's settings are seen.
WaitPolicy& wait_policy() {
  static WaitPolicy* p = [] {
    auto* w = new WaitPolicy;
    int64_t v = 0;
    const char* omp = std::getenv("OMP_WAIT_POLICY");
    const std::string policy = omp ? omp : "";
    if (read_count("CNNNATIVE_SPIN_US", &v)) {
      w->spin_ns = std::min<int64_t>(v, kDefaultSpinUs) * 1000;
      w->yield_ns = (v - std::min<int64_t>(v, kDefaultSpinUs)) * 1000;
      w->source = "CNNNATIVE_SPIN_US";
    } else if (policy == "passive" || policy == "PASSIVE") {
      w->spin_ns = 0, w->yield_ns = 0, w->source = "OMP_WAIT_POLICY=passive";
    } else if (policy == "active" || policy == "ACTIVE") {
      w->spin_ns = 200 * 1000, w->yield_ns = int64_t(1000) * 1000 * 1000, w->source = "OMP_WAIT_POLICY=active";
    } else if (read_count("GOMP_SPINCOUNT", &v)) {
      // libgomp spins `v` pause instructions, ~10 ns each.
      w->spin_ns = v * 10, w->yield_ns = 0, w->source = "GOMP_SPINCOUNT";
    }
    return w;
  }();
  return *p;
}

// Returns once `word` differs from `old`, waiting as the policy says; `sleepers` counts the
// threads asleep on `word` so that the waker knows whether to make the system call.
// may_yield false: the whole budget as pause-spin, then sleep. The caller of a region waits
// so for members still running: on a busy machine sched_yield hands its core to another
// process for a whole time slice (milliseconds) while the member finishes in microseconds;
// sleeping at once instead costs a futex wake-up (tens of microseconds) on every region
// whose members finish after the caller.
void wait_for_change(std::atomic<uint32_t>& word, uint32_t old, std::atomic<int>& sleepers, bool may_yield = true) {
  if (word.load(std::memory_order_acquire) != old) return;
  const WaitPolicy& w = wait_policy();
  int64_t spin = w.spin_ns.load(std::memory_order_relaxed);
  int64_t yield = w.yield_ns.load(std::memory_order_relaxed);
  if (!may_yield) spin += yield, yield = 0;  // the same patience, without giving the core away
  if (spin + yield > 0) {
    const int64_t start = now_ns();
    int64_t elapsed = 0;
    while (elapsed < spin) {
      for (int i = 0; i < 32; ++i) {
        _mm_pause();
        if (word.load(std::memory_order_acquire) != old) return;
      }
      elapsed = now_ns() - start;
    }
    while (elapsed < spin + yield) {
      sched_yield();
      if (word.load(std::memory_order_acquire) != old) return;
      elapsed = now_ns() - start;
    }
  }
  sleepers.fetch_add(1, std::memory_order_seq_cst);
  while (word.load(std::memory_order_seq_cst) == old) futex_wait(&word, old);
  sleepers.fetch_sub(1, std::memory_order_relaxed);
}

void bump_and_wake(std::atomic<uint32_t>& word, std::atomic<int>& sleepers, int count) {
  word.fetch_add(1, std::memory_order_seq_cst);
  if (sleepers.load(std::memory_order_seq_cst) > 0) futex_wake(&word, count);
}

// Contention: when another process holds the cores, a worker is late to its share or loses
// its core half way, and the region then waits for it: tens of microseconds, or a scheduler
// time slice (milliseconds). Beside one busy process that made 2 threads slower than 1
// (benchmarks/bench_busy_threads.py); claiming only helps with shares nobody started. So the
// team keeps score on one region in kSampleEvery (and on every probe below): each member
// adds the CPU time of its shares (the work; CPU time, because a member preempted half way
// did no work meanwhile), which is what running alone would have cost, and the region's
// gain is that minus its wall time. Gains are averaged (one part in 8 per scored region,
// a loss counted at most kMaxLossNs); when the average falls below -kToleranceNs, regions
// run on the calling thread alone for a back-off period. The first kProbeRegions scored regions after it probe the team again: if
// together they lost time the period doubles (kMinSoloNs..kMaxSoloNs) and the team backs
// off at once, else the period resets. On a quiet machine a region gains, or loses a few
// microseconds of wake-up when it had little to share (the tolerance); a region whose
// caller ran every share (no worker came) is not scored. Thread CPU time is a system call
// here (~1.4 us on this VM), hence the sampling.
constexpr int64_t kMinSoloNs = 50 * 1000 * 1000, kMaxSoloNs = int64_t(1600) * 1000 * 1000;
constexpr int64_t kToleranceNs = 10 * 1000, kMaxLossNs = 8 * kToleranceNs;
constexpr int kProbeRegions = 4, kSampleEvery = 8;

struct Contention {
  std::atomic<int64_t> solo_until{0};  // now_ns() before which regions run alone
  std::atomic<int64_t> events{0};      // back-offs started (for team_contention())
  std::atomic<bool> enabled{true};
  // Every region that may back off runs alone (CNNNATIVE_TEAM_BACKOFF=always, or
  // set_team_always_backed_off): what the back-off reaches at best, and its bits.
  std::atomic<bool> always{false};
  // Used only by the thread holding the team (Team::busy_).
  int64_t solo_ns = kMinSoloNs, mean_gain_ns = 0, probe_gain_ns = 0;
  int probes_left = 0;
  uint32_t regions = 0;

  bool solo(int64_t now) const {
    return always.load(std::memory_order_relaxed) || now < solo_until.load(std::memory_order_relaxed);
  }

  // Whether to score the region about to open.
  bool sample() {
    if (!enabled.load(std::memory_order_relaxed)) return false;
    return probes_left > 0 || ++regions % kSampleEvery == 0;
  }

  // After a scored team region: its members' CPU time in their shares, and its wall time.
  void observe(int64_t work, int64_t wall, int64_t now) {
    const int64_t gain = work - wall;
    if (probes_left > 0) {
      probe_gain_ns += gain;
      if (--probes_left == 0) {
        if (probe_gain_ns > -kToleranceNs * kProbeRegions)
          solo_ns = kMinSoloNs, mean_gain_ns = 0;
        else
          back_off(now);
      }
      return;
    }
    // A loss counts at most kMaxLossNs: one late region alone (on a quiet machine a
    // daemon's time slice cost one region 1-3 ms and backed the team off for 50 ms) then
    // cannot pull the average below -kToleranceNs; a run of them still does.
    mean_gain_ns += (std::max(gain, -kMaxLossNs) - mean_gain_ns) / 8;
    if (mean_gain_ns < -kToleranceNs) back_off(now);
  }

  void back_off(int64_t now) {
    solo_until.store(now + solo_ns, std::memory_order_relaxed);
    solo_ns = std::min(2 * solo_ns, kMaxSoloNs);
    events.fetch_add(1, std::memory_order_relaxed);
    mean_gain_ns = 0, probe_gain_ns = 0, probes_left = kProbeRegions;
  }

  void reset() {
    solo_until.store(0);
    solo_ns = kMinSoloNs, mean_gain_ns = 0, probe_gain_ns = 0, probes_left = 0;
  }
};

Contention& contention() {
  static Contention* c = [] {  // leaked: used until the process ends
    auto* made = new Contention;
    // "0": off; "always": backed off for good (benchmarks compare both with the default)
    const char* env = std::getenv("CNNNATIVE_TEAM_BACKOFF");
    if (env && std::string(env) == "0") made->enabled.store(false);
    if (env && std::string(env) == "always") made->always.store(true);
    return made;
  }();
  return *c;
}

// The claim word of a region: epoch (bits 32..63, new per region, so a stale claim attempt
// from a previous region fails its compare-exchange), team size (16..31), next member (0..15).
constexpr uint64_t pack_claims(uint64_t epoch, int team, int next) {
  return (epoch << 32) | (uint64_t(team) << 16) | uint64_t(next);
}

struct Region {
  team_detail::Call call = nullptr;
  void* body = nullptr;
  int team = 1;
  std::atomic<uint64_t> claims{0};
  std::atomic<int> pending{0};  // members 1 .. team-1 not yet finished
  std::atomic<uint32_t> done{0};
  std::atomic<int> done_sleepers{0};
  std::atomic<int> arrived{0};
  bool sample = false;                 // scored: members add their shares' CPU time
  std::atomic<int64_t> work_ns{0};
  std::atomic<uint32_t> barrier_generation{0};
  std::atomic<int> barrier_sleepers{0};
  std::mutex error_mutex;
  std::exception_ptr error;

  void record(std::exception_ptr e) {
    std::lock_guard<std::mutex> lock(error_mutex);
    if (!error) error = e;
  }

  // The next member index nobody has started, if any.
  bool claim(int* tid) {
    uint64_t v = claims.load(std::memory_order_acquire);
    for (;;) {
      const int next = int(v & 0xFFFF), size = int((v >> 16) & 0xFFFF);
      if (next >= size) return false;
      if (claims.compare_exchange_weak(v, v + 1, std::memory_order_acq_rel, std::memory_order_acquire)) {
        *tid = next;
        return true;
      }
    }
  }
};

struct alignas(64) WorkerSlot {
  std::atomic<uint32_t> go{0};
  std::atomic<int> sleepers{0};
};

thread_local Region* tl_region = nullptr;  // the region this thread is a member of
thread_local bool tl_in_team = false;

// Runs the body as member `tid`, marking the thread so that nested kernels stay serial.
void run_member(Region& r, int tid) {
  tl_in_team = true;
  tl_region = &r;
  const int64_t cpu = r.sample ? thread_cpu_ns() : 0;
  try {
    r.call(r.body, tid, r.team);
  } catch (...) {
    r.record(std::current_exception());
  }
  if (r.sample) r.work_ns.fetch_add(thread_cpu_ns() - cpu, std::memory_order_relaxed);
  tl_region = nullptr;
  tl_in_team = false;
}

class Team {
 public:
  Team() : slots_(new WorkerSlot[kMaxWorkers + 1]) {}

  // false: the team is in use (another thread's region); the caller runs alone.
  bool try_run(int threads, team_detail::Call call, void* body) {
    std::unique_lock<std::mutex> lock(busy_, std::try_to_lock);
    if (!lock.owns_lock()) return false;
    const int team = std::min(threads, kMaxWorkers + 1);
    while (int(workers_) < team - 1) start_worker();
    Region& r = region_;
    r.call = call, r.body = body, r.team = team;
    r.error = nullptr;
    r.arrived.store(0, std::memory_order_relaxed);
    r.sample = contention().sample();
    r.work_ns.store(0, std::memory_order_relaxed);
    r.pending.store(team - 1, std::memory_order_relaxed);
    r.claims.store(pack_claims(++epoch_, team, 1), std::memory_order_release);  // publishes the fields above
    const int64_t start = r.sample ? now_ns() : 0;
    for (int w = 1; w < team; ++w) bump_and_wake(slots_[w].go, slots_[w].sleepers, 1);
    run_member(r, 0);
    int ran = 1;
    // The members no worker has started yet run here rather than being waited for.
    for (int tid; r.claim(&tid); ++ran) {
      run_member(r, tid);
      r.pending.fetch_sub(1, std::memory_order_acq_rel);
    }
    uint32_t seen = r.done.load(std::memory_order_acquire);
    while (r.pending.load(std::memory_order_acquire) != 0) {
      wait_for_change(r.done, seen, r.done_sleepers, /*may_yield=*/false);
      seen = r.done.load(std::memory_order_acquire);
    }
    // Scored only when a worker took part (else the caller ran every share: nothing lost
    // waiting, nothing learnt about the team).
    if (r.sample && ran < team) {
      const int64_t end = now_ns();
      contention().observe(r.work_ns.load(std::memory_order_acquire), end - start, end);
    }
    if (r.error) std::rethrow_exception(r.error);
    return true;
  }

 private:
  void start_worker() {
    const int tid = int(++workers_);
    // Detached: the team lives until the process ends (never destroyed, see team()).
    std::thread([this, tid] { worker_loop(tid); }).detach();
  }

  void worker_loop(int tid) {
    WorkerSlot& slot = slots_[tid];
    uint32_t seen = 0;
    for (;;) {
      wait_for_change(slot.go, seen, slot.sleepers);
      seen = slot.go.load(std::memory_order_acquire);
      Region& r = region_;
      for (int member; r.claim(&member);) {
        run_member(r, member);
        if (r.pending.fetch_sub(1, std::memory_order_acq_rel) == 1) bump_and_wake(r.done, r.done_sleepers, 1);
      }
    }
  }

  std::mutex busy_;
  std::unique_ptr<WorkerSlot[]> slots_;
  size_t workers_ = 0;
  uint64_t epoch_ = 0;  // regions started (low 32 bits go into the claim word)
  Region region_;
};

// One team per process; the child of a fork gets a new one (the parent's workers do not
// exist there, and its busy mutex may have been held by another thread at the fork). The
// old one is leaked on purpose: its detached threads' objects must not be destroyed.
std::atomic<Team*> g_team{nullptr};
std::mutex g_team_mutex;

void forget_team_in_child() { g_team.store(nullptr); }
[[maybe_unused]] const int fork_handler = pthread_atfork(nullptr, nullptr, forget_team_in_child);

Team& team() {
  Team* t = g_team.load(std::memory_order_acquire);
  if (t) return *t;
  std::lock_guard<std::mutex> lock(g_team_mutex);
  t = g_team.load(std::memory_order_acquire);
  if (!t) {
    wait_policy();  // read the environment now, at the first use
    t = new Team;
    g_team.store(t, std::memory_order_release);
  }
  return *t;
}

}  // namespace

namespace team_detail {
void run(int threads, Call call, void* body, bool any_size) {
  // Inside another team nesting would oversubscribe: run alone; so does a region that may,
  // while the machine's cores are taken by others (Contention above).
  if (threads > 1 && !tl_in_team && !(any_size && contention().solo(now_ns())) && team().try_run(threads, call, body))
    return;
  Region alone;
  alone.call = call, alone.body = body, alone.team = 1;
  const bool outer = tl_in_team;
  Region* outer_region = tl_region;
  run_member(alone, 0);
  tl_in_team = outer, tl_region = outer_region;
  if (alone.error) std::rethrow_exception(alone.error);
}
}  // namespace team_detail

void team_barrier() {
  Region* r = tl_region;
  if (!r || r->team <= 1) return;
  const uint32_t generation = r->barrier_generation.load(std::memory_order_acquire);
  if (r->arrived.fetch_add(1, std::memory_order_acq_rel) == r->team - 1) {
    r->arrived.store(0, std::memory_order_relaxed);
    bump_and_wake(r->barrier_generation, r->barrier_sleepers, INT_MAX);
  } else {
    wait_for_change(r->barrier_generation, generation, r->barrier_sleepers);
  }
}

bool in_team() { return tl_in_team; }

TeamWait team_wait() {
  const WaitPolicy& w = wait_policy();
  return TeamWait{w.spin_ns.load() / 1000, w.yield_ns.load() / 1000, w.source};
}

TeamContention team_contention() {
  Contention& c = contention();
  const int64_t left = c.solo_until.load() - now_ns();
  return TeamContention{c.events.load(), left > 0 ? left / 1000 : 0, c.enabled.load()};
}

void set_team_contention_backoff(bool enabled) {
  Contention& c = contention();
  c.enabled.store(enabled);
  if (!enabled) c.reset();
}

void set_team_always_backed_off(bool always) { contention().always.store(always); }

void set_team_wait(int64_t spin_us, int64_t yield_us) {
  WaitPolicy& w = wait_policy();
  if (spin_us >= 0) w.spin_ns.store(spin_us * 1000);
  if (yield_us >= 0) w.yield_ns.store(yield_us * 1000);
  w.source = "set_team_wait";
}

}  // namespace cnnnative
