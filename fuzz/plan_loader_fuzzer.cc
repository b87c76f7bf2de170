// libFuzzer target for the plan file loader (cnnnative::planfile::load_from_memory).
//
// Built by tools/fuzz-plan-loader (clang++ -fsanitize=fuzzer,address,undefined). Every input
// is loaded twice: as given (which mostly exercises the header and checksum checks), and
// with its header's file size and CRC-32 patched to match, so that mutations reach the
// section, tensor and graph parsing and the replayed Plan::add_* calls behind the checksum.
// A malformed file must raise std::invalid_argument; anything else (another exception, a
// crash, a sanitizer report, a leak) is a finding.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "cnnnative/plan_file.h"
#include "planfile/limits.h"

using namespace cnnnative;

namespace {

void load(const uint8_t* data, size_t size) {
  try {
    planfile::LoadedPlan p = planfile::load_from_memory(data, size);
    // A plan that loads must describe itself consistently.
    if (!p.plan || !p.plan->finalized()) std::abort();
  } catch (const std::invalid_argument&) {
    // the expected outcome for a malformed file
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // Small files may still describe large images: keep every buffer under 16 MiB so the
  // fuzzer stays fast and in memory; and build autotune files with the heuristic choice
  // (timing every candidate kernel is not loading, and a hundred times slower).
  planfile::set_max_buffer_bytes(int64_t(16) << 20);
  planfile::set_autotune_allowed(false);
  setenv("OMP_NUM_THREADS", "1", 1);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  load(data, size);
  if (size >= 64 && std::memcmp(data, "CNNPLAN", 8) == 0) {
    std::vector<uint8_t> fixed(data, data + size);
    const uint64_t n = size;
    for (int i = 0; i < 8; ++i) fixed[16 + i] = uint8_t(n >> (8 * i));
    const uint32_t crc = planfile::crc32(fixed.data() + 64, size - 64);
    for (int i = 0; i < 4; ++i) fixed[40 + i] = uint8_t(crc >> (8 * i));
    load(fixed.data(), fixed.size());
  }
  return 0;
}
