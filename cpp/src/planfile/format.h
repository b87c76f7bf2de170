// The plan file's constants (docs/plan_format.md is the specification; keep them in step,
// and python/cnnnative/plan_file.py, which writes the files).
#pragma once
#include <cstdint>

namespace cnnnative::planfile {

constexpr char kMagic[8] = {'C', 'N', 'N', 'P', 'L', 'A', 'N', '\0'};
constexpr int64_t kHeaderBytes = 64;
constexpr int64_t kSectionEntryBytes = 32;
constexpr int64_t kDataAlignment = 64;  // every tensor's bytes start at a multiple of this in the file

enum class Section : uint32_t { meta = 1, tensors = 2, graph = 3, data = 4 };

// Element types of the tensor table. The loader of this version takes float32, and int8 for
// the int8 nodes' weights; the other codes are reserved.
enum class DType : uint32_t { float32 = 1, float16 = 2, bfloat16 = 3, int8 = 4, int32 = 5, uint8 = 6 };

// Node kinds in the graph section: the Plan::add_* call each node replays. Stable numbers
// (never reuse one); new kinds are appended.
enum class FileOp : uint32_t {
  conv = 1,
  conv_transpose = 2,
  max_pool = 3,
  avg_pool = 4,
  global_avg_pool = 5,
  linear = 6,
  add = 7,
  concat = 8,
  flatten = 9,
  softmax = 10,
  channel_affine = 11,
  activation = 12,
  channel_scale = 13,
  interpolate = 14,
  pixel_shuffle = 15,
  pixel_unshuffle = 16,
  channel_shuffle = 17,
  channel_slice = 18,
  // int8 (version 1.1): uint8 buffers hold q for scale * (q - zero point).
  quantize = 19,
  dequantize = 20,
  conv_int8 = 21,
  linear_int8 = 22,
  max_pool_u8 = 23,
  avg_pool_u8 = 24,
  global_avg_pool_u8 = 25,
  concat_u8 = 26,
};

// The precision of the conv and linear nodes (meta section; version 1.1, before which the
// field was reserved and 0). The weights stay float32 in the file: a bf16 plan's loader
// rounds them to bf16 once, as cnnnative.compile(precision="bf16") does.
enum class FilePrecision : uint32_t { float32 = 0, bf16 = 1 };

// The conv method choice recorded in the meta section (the loading CPU applies it).
enum class FileConvChoice : uint32_t { heuristic = 0, gemm = 1, autotune = 2 };

}  // namespace cnnnative::planfile
