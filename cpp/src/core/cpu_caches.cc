// Cache sizes from cpuid (see cnnnative/cpu_caches.h).
#include "cnnnative/cpu_caches.h"

#include <cpuid.h>
#include <unistd.h>

#include <algorithm>

namespace cnnnative {
namespace {

// Walks the deterministic cache parameter leaf (4 on Intel, 0x8000001D on AMD): one
// subleaf per cache until type 0. Size = ways * partitions * line size * sets.
bool from_cpuid(CpuCaches* c) {
  unsigned eax, ebx, ecx, edx;
  if (!__get_cpuid(0, &eax, &ebx, &ecx, &edx)) return false;
  const bool amd = ebx == 0x68747541;  // "Auth"enticAMD
  unsigned leaf = 4;
  if (amd) {
    if (!__get_cpuid(0x80000001, &eax, &ebx, &ecx, &edx) || !(ecx & (1u << 22))) return false;  // TopologyExtensions
    leaf = 0x8000001D;
  } else if (eax < 4) {
    return false;
  }
  bool found = false;
  for (unsigned sub = 0; sub < 16; ++sub) {
    __cpuid_count(leaf, sub, eax, ebx, ecx, edx);
    const unsigned type = eax & 0x1f, level = (eax >> 5) & 0x7;
    if (type == 0) break;
    if (type == 2) continue;  // instruction cache
    const int64_t ways = ((ebx >> 22) & 0x3ff) + 1, parts = ((ebx >> 12) & 0x3ff) + 1, line = (ebx & 0xfff) + 1;
    const int64_t size = ways * parts * line * (int64_t(ecx) + 1);
    if (level == 1) c->l1d = size;
    if (level == 2) c->l2 = size;
    if (level == 3) c->l3 = size;
    found = found || level == 2;
  }
  return found;
}

bool from_sysconf(CpuCaches* c) {
  const long l1 = sysconf(_SC_LEVEL1_DCACHE_SIZE), l2 = sysconf(_SC_LEVEL2_CACHE_SIZE),
             l3 = sysconf(_SC_LEVEL3_CACHE_SIZE);
  if (l2 <= 0) return false;
  if (l1 > 0) c->l1d = l1;
  c->l2 = l2;
  if (l3 > 0) c->l3 = l3;
  return true;
}

CpuCaches detect() {
  CpuCaches c;
  if (from_cpuid(&c))
    c.source = "cpuid";
  else if (from_sysconf(&c))
    c.source = "sysconf";
  // Nonsense from a hypervisor (0 or absurd values) falls back to the defaults.
  if (c.l2 < (128 << 10) || c.l2 > (64 << 20)) {
    c.l2 = CpuCaches{}.l2;
    c.source = "default";
  }
  return c;
}

}  // namespace

const CpuCaches& cpu_caches() {
  static const CpuCaches c = detect();
  return c;
}

int64_t scale_to_l2(int64_t tuned, int64_t multiple, int64_t l2) {
  if (l2 < 0) l2 = cpu_caches().l2;
  const double ratio = std::clamp(double(l2) / double(1 << 20), 0.5, 2.0);
  const int64_t m = std::max<int64_t>(multiple, 1);
  return std::max<int64_t>(m, int64_t(double(tuned) * ratio) / m * m);
}

}  // namespace cnnnative
