// The data cache sizes of the CPU this process runs on, for cache blocking (the GEMM's MC).
//
// Read once from cpuid's deterministic cache parameters (leaf 4 on Intel, 0x8000001D on
// AMD: the same register layout), else from sysconf, else the defaults below. Sizes are
// per core (L1d, L2) or per package (L3) as the CPU reports them.
#pragma once
#include <cstdint>

namespace cnnnative {

struct CpuCaches {
  int64_t l1d = 32 << 10, l2 = 1 << 20, l3 = 32 << 20;
  const char* source = "default";  // "cpuid", "sysconf" or "default"
};
const CpuCaches& cpu_caches();

// The kernels' blocking was tuned on CPUs with a 1 MiB L2 (AMD Zen 4 and 5; also Intel
// Skylake-SP to Ice Lake-SP). A block sized for that L2 (an MC x KC panel of A) is scaled by
// this CPU's L2 over 1 MiB, between 1/2 and 2 (Emerald Rapids' 2 MiB: 2x; a 512 KiB Zen 2/3
// L2: 1/2), and rounded down to a multiple of `multiple` (at least one). l2 < 0: this CPU's.
int64_t scale_to_l2(int64_t tuned, int64_t multiple, int64_t l2 = -1);

}  // namespace cnnnative
