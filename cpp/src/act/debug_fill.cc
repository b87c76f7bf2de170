// See act/debug_fill.h.
#include "act/debug_fill.h"

#include <atomic>
#include <limits>

namespace cnnnative {
namespace {
std::atomic<bool>& flag() {
  static std::atomic<bool> f{false};
  return f;
}
}  // namespace

void set_debug_fill(bool on) { flag().store(on); }
bool debug_fill() { return flag().load(std::memory_order_relaxed); }

void poison(float* p, int64_t n) {
  if (!debug_fill()) return;
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (int64_t i = 0; i < n; ++i) p[i] = nan;
}
void poison(int64_t* p, int64_t n) {
  if (!debug_fill()) return;
  for (int64_t i = 0; i < n; ++i) p[i] = -1;
}

}  // namespace cnnnative
