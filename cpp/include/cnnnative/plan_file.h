// The deployable model file ("plan file", docs/plan_format.md): a compiled, BN-folded,
// fused network with its weights, loaded back into an engine::Plan on any CPU.
//
// The file records the sequence of Plan::add_* calls with their original (untransformed)
// weights and attributes; loading replays those calls, so the kernels are chosen for the
// CPU that loads it (Winograd transforms and ISA prepacking happen at load time).
//
// Loading never trusts the file: every count, offset, size, shape and attribute is checked
// (64-bit arithmetic with overflow checks, bounds against the file size) before it is used,
// and errors are std::invalid_argument (ValueError in Python) naming the field, the node
// index and the sizes. A malformed file never crashes the loader or makes it read out of
// bounds.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "cnnnative/engine.h"

namespace cnnnative::planfile {

// The format version this build writes and reads (a file with a newer major is refused).
constexpr uint32_t kFormatMajor = 1;
constexpr uint32_t kFormatMinor = 1;  // 1.1: the meta precision field (bf16 plans)

struct TensorSpec {
  std::string name;
  std::vector<int64_t> shape;  // shape[0] = planned (maximum) batch
};

struct LoadedPlan {
  std::unique_ptr<engine::Plan> plan;  // finalized, ready to run
  TensorSpec input, output;
};

// Validates everything before use; throws std::invalid_argument (ValueError) on any
// malformed, truncated, corrupted or newer-version file.
LoadedPlan load_from_memory(const void* data, size_t size);
// Reads the whole file, then load_from_memory; a file that cannot be read is a ValueError.
LoadedPlan load_from_file(const std::string& path);

// CRC-32 (IEEE 802.3, zlib's crc32) of bytes, continuing from `crc` (0 to start).
uint32_t crc32(const void* data, size_t size, uint32_t crc = 0);

}  // namespace cnnnative::planfile
