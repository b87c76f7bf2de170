// CPU feature detection and the active-ISA switch (see cnnnative/isa.h).
#include "cnnnative/isa.h"

#include <cpuid.h>

#include <atomic>
#include <cstdlib>
#include <stdexcept>

#include "cnnnative/errors.h"

namespace cnnnative {
namespace {

uint64_t read_xcr0() {
  uint32_t eax, edx;
  __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return (static_cast<uint64_t>(edx) << 32) | eax;
}

struct CpuFeatures {
  bool avx2 = false;    // AVX2 + FMA3, with the OS saving YMM state
  bool avx512 = false;  // AVX-512 F/BW/DQ/VL, with the OS saving ZMM state
};

CpuFeatures detect() {
  CpuFeatures f;
  unsigned eax, ebx, ecx, edx;
  if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return f;
  const bool osxsave = ecx & (1u << 27), fma = ecx & (1u << 12), avx = ecx & (1u << 28);
  if (!osxsave || !avx) return f;
  const uint64_t xcr0 = read_xcr0();
  const bool ymm_saved = (xcr0 & 0x6) == 0x6;
  const bool zmm_saved = (xcr0 & 0xe6) == 0xe6;
  if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return f;
  const bool avx2 = ebx & (1u << 5);
  const bool avx512f = ebx & (1u << 16), avx512dq = ebx & (1u << 17),
             avx512cd = ebx & (1u << 28), avx512bw = ebx & (1u << 30),
             avx512vl = ebx & (1u << 31);
  f.avx2 = ymm_saved && avx2 && fma;
  f.avx512 = f.avx2 && zmm_saved && avx512f && avx512dq && avx512bw && avx512vl && avx512cd;
  return f;
}

const CpuFeatures& features() {
  static const CpuFeatures f = detect();
  return f;
}

Isa initial_isa() {
  const char* env = std::getenv("CNNNATIVE_ISA");
  if (env && *env) {
    Isa want = parse_isa(env);
    if (!cpu_supports(want))
      throw std::invalid_argument(concat("CNNNATIVE_ISA=", env, " but this CPU does not support ",
                                         isa_name(want), " (best available: ",
                                         isa_name(best_isa()), ")"));
    return want;
  }
  return best_isa();
}

std::atomic<int>& active() {
  static std::atomic<int> a{static_cast<int>(initial_isa())};
  return a;
}

}  // namespace

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::scalar: return "scalar";
    case Isa::avx2: return "avx2";
    case Isa::avx512: return "avx512";
  }
  return "unknown";
}

Isa parse_isa(const std::string& name) {
  if (name == "scalar") return Isa::scalar;
  if (name == "avx2") return Isa::avx2;
  if (name == "avx512") return Isa::avx512;
  throw std::invalid_argument(concat("unknown ISA '", name, "'; choose scalar, avx2 or avx512"));
}

bool cpu_supports(Isa isa) {
  switch (isa) {
    case Isa::scalar: return true;
    case Isa::avx2: return features().avx2;
    case Isa::avx512: return features().avx512;
  }
  return false;
}

Isa best_isa() {
  if (features().avx512) return Isa::avx512;
  if (features().avx2) return Isa::avx2;
  return Isa::scalar;
}

std::vector<Isa> available_isas() {
  std::vector<Isa> v{Isa::scalar};
  if (cpu_supports(Isa::avx2)) v.push_back(Isa::avx2);
  if (cpu_supports(Isa::avx512)) v.push_back(Isa::avx512);
  return v;
}

Isa active_isa() { return static_cast<Isa>(active().load(std::memory_order_relaxed)); }

void set_active_isa(Isa isa) {
  CN_CHECK(cpu_supports(isa), "this CPU does not support ", isa_name(isa), " (best available: ",
           isa_name(best_isa()), ")");
  active().store(static_cast<int>(isa));
}

}  // namespace cnnnative
