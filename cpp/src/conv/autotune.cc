// Switches of the fast algorithms, the debug NaN scratch, and the autotuner.
//
// The autotuner is opt-in: the first time algo="auto" meets a shape, every algorithm
// that supports it runs on scratch data (one warm-up, then the best of three timed
// runs) and the fastest is cached under the shape, the thread count and the ISA.
// A mutex guards the cache; tuning runs under it, so two threads never time at once
// (which would spoil both measurements).
#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <vector>

#include "autotune.h"
#include "cnnnative/conv.h"
#include "cnnnative/errors.h"
#include "cnnnative/isa.h"
#include "cnnnative/threads.h"

namespace cnnnative {
namespace {

std::atomic<bool> g_winograd{true}, g_fft{true}, g_scratch_nan{false}, g_autotune{false};

std::mutex& cache_mutex() {
  static std::mutex m;
  return m;
}
std::map<std::string, std::string>& cache() {
  static std::map<std::string, std::string> c;
  return c;
}

bool env_off(const char* name) {
  const char* v = std::getenv(name);
  return v && (std::string(v) == "0" || std::string(v) == "off" || std::string(v) == "false");
}

// Time one forward run of `a` (seconds, best of `repeats` after one warm-up).
double time_forward(const ConvAlgorithm& a, const ConvParams& p, const float* x, const float* w,
                    float* y, int repeats) {
  a.forward(p, x, w, nullptr, y);
  double best = 1e300;
  for (int i = 0; i < repeats; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    a.forward(p, x, w, nullptr, y);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = s < best ? s : best;
  }
  return best;
}

// Released scratch blocks of this thread: (pointer, capacity in bytes).
struct ScratchPool {
  std::vector<std::pair<float*, size_t>> blocks;
  size_t bytes = 0;
  ~ScratchPool() {
    for (auto& b : blocks) std::free(b.first);
  }
};
thread_local ScratchPool t_pool;
constexpr size_t kPoolLimit = size_t(256) << 20;

}  // namespace

float* scratch_acquire(size_t bytes, size_t* capacity) {
  bytes = (bytes + 63) / 64 * 64;
  // The smallest cached block that fits, unless it wastes more than half.
  auto& blocks = t_pool.blocks;
  size_t best = blocks.size();
  for (size_t i = 0; i < blocks.size(); ++i)
    if (blocks[i].second >= bytes && blocks[i].second <= 2 * bytes &&
        (best == blocks.size() || blocks[i].second < blocks[best].second))
      best = i;
  if (best != blocks.size()) {
    float* p = blocks[best].first;
    *capacity = blocks[best].second;
    t_pool.bytes -= blocks[best].second;
    blocks.erase(blocks.begin() + best);
    return p;
  }
  float* p = static_cast<float*>(std::aligned_alloc(64, bytes));
  if (!p) throw std::bad_alloc();
  *capacity = bytes;
  return p;
}

void scratch_release(float* p, size_t capacity) {
  auto& blocks = t_pool.blocks;
  blocks.emplace_back(p, capacity);
  t_pool.bytes += capacity;
  while (t_pool.bytes > kPoolLimit && !blocks.empty()) {  // drop the oldest
    t_pool.bytes -= blocks.front().second;
    std::free(blocks.front().first);
    blocks.erase(blocks.begin());
  }
}

// CNNNATIVE_WINOGRAD=0 / CNNNATIVE_FFT=0 in the environment start with that algorithm off.
bool winograd_enabled() {
  static const bool env = env_off("CNNNATIVE_WINOGRAD");
  return g_winograd.load() && !env;
}
bool fft_enabled() {
  static const bool env = env_off("CNNNATIVE_FFT");
  return g_fft.load() && !env;
}
void set_fast_algorithms(bool winograd, bool fft) {
  g_winograd = winograd;
  g_fft = fft;
  clear_autotune_cache();
}

bool scratch_nan_enabled() { return g_scratch_nan.load(); }
void set_scratch_nan(bool on) { g_scratch_nan = on; }

bool autotune_enabled() { return g_autotune.load(); }
void set_autotune(bool on) { g_autotune = on; }
void clear_autotune_cache() {
  std::lock_guard<std::mutex> lock(cache_mutex());
  cache().clear();
}

std::string autotuned_conv_algorithm(const ConvParams& p) {
  const std::string key = concat(p.to_string(), " threads ", num_threads(), " isa ", isa_name(active_isa()));
  std::lock_guard<std::mutex> lock(cache_mutex());
  auto it = cache().find(key);
  if (it != cache().end()) return it->second;

  ConvParams one = p;  // time a batch of at most 4: the per-image cost decides
  if (one.N > 4) one.N = 4;
  if (one.N == 0) one.N = 1;
  std::string best_name = "im2col";
  double best = 1e300;
  {
    ScratchBuffer x(one.input_numel()), w(one.weight_numel()), y(one.output_numel());
    for (size_t i = 0; i < x.size(); ++i) x.data()[i] = float((i * 7919) % 17) * 0.0625f - 0.5f;
    for (size_t i = 0; i < w.size(); ++i) w.data()[i] = float((i * 104729) % 13) * 0.03125f - 0.2f;
    for (const ConvAlgorithm* a : conv_algorithms()) {
      const std::string name = a->name;
      if (name == "winograd" || name == "fft") continue;  // aliases of a tile size
      std::string why;
      if (!a->supports(one, &why)) continue;
      const double s = time_forward(*a, one, x.data(), w.data(), y.data(), 3);
      if (s < best) {
        best = s;
        best_name = name;
      }
    }
  }
  cache()[key] = best_name;
  return best_name;
}

}  // namespace cnnnative
