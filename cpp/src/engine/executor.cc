// Running a Plan: borrow an arena, run every node in order, give the arena back.
//
// Buffer addresses are the arena base plus the planned offsets (the input and output
// are the caller's arrays), so a run allocates nothing once an arena exists. With
// `poison`, the arena starts as NaN, every node's output and scratch are NaN-filled just
// before it runs, and each buffer is NaN-filled right after its last reader: a node
// that reads memory another buffer has reused, or leaves an element unwritten, then
// produces NaN that the tests see.
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <limits>

#include "cnnnative/engine.h"
#include "cnnnative/errors.h"
#include "cnnnative/threads.h"
#include "engine/int8_nodes.h"
#include "engine/kernels.h"

namespace cnnnative {
namespace engine {

namespace {
constexpr int64_t kAlign = 64;

// Below this many elements (or multiply-adds, for convs) a node runs on the calling
// thread: waking the team costs more than it saves, and on a busy machine each parallel
// region can wait a whole scheduler slice for its threads.
constexpr int64_t kSerialElements = 1 << 15;
constexpr int64_t kSerialMacs = 1 << 21;

int64_t conv_macs(const ConvParams& p, int64_t batch) {
  return batch * p.K * p.output_h() * p.output_w() * p.channels_per_group() * p.R * p.S;
}

void fill_nan(float* p, int64_t count) {
  std::fill(p, p + count, std::numeric_limits<float>::quiet_NaN());
}
}  // namespace

float* Plan::arena_acquire() const {
  std::lock_guard<std::mutex> lock(pool_mutex_);
  if (!free_arenas_.empty()) {
    float* a = free_arenas_.back();
    free_arenas_.pop_back();
    return a;
  }
  const int64_t bytes = std::max<int64_t>((arena_bytes_ + kAlign - 1) / kAlign * kAlign, kAlign);
  float* a = static_cast<float*>(std::aligned_alloc(kAlign, size_t(bytes)));
  if (!a) throw std::bad_alloc();
  arenas_.emplace_back(a);
  return a;
}

void Plan::arena_release(float* a) const {
  std::lock_guard<std::mutex> lock(pool_mutex_);
  free_arenas_.push_back(a);
}

int64_t Plan::arenas_created() const {
  std::lock_guard<std::mutex> lock(pool_mutex_);
  return int64_t(arenas_.size());
}

void Plan::run(const float* x, int64_t batch, float* y, bool poison, std::vector<double>* node_seconds) const {
  CN_CHECK(finalized_, "the plan is not finalized");
  CN_CHECK(batch >= 0 && batch <= planned_batch(), "batch ", batch, " is outside 0..", planned_batch(),
           " (the batch the model was compiled for)");
  if (batch == 0) return;

  struct Lease {  // gives the arena back even when a node throws
    const Plan* plan;
    float* arena;
    ~Lease() { plan->arena_release(arena); }
  } lease{this, arena_acquire()};
  run_in_arena(x, batch, y, poison, node_seconds, lease.arena);
}

void Plan::run_with_arena(const float* x, int64_t batch, float* y, float* arena) const {
  CN_CHECK(finalized_, "the plan is not finalized");
  CN_CHECK(batch >= 0 && batch <= planned_batch(), "batch ", batch, " is outside 0..", planned_batch(),
           " (the batch the model was compiled for)");
  CN_CHECK(arena != nullptr, "run_with_arena: the arena is null");
  if (batch == 0) return;
  run_in_arena(x, batch, y, false, nullptr, arena);
}

void Plan::run_in_arena(const float* x, int64_t batch, float* y, bool poison, std::vector<double>* node_seconds,
                        float* arena) const {
  auto addr = [&](int id) -> float* {
    if (id == 0) return const_cast<float*>(x);  // the input is only ever read
    if (id == output_) return y;
    return arena + buffers_[id].offset / int64_t(sizeof(float));
  };
  auto count = [&](int id) { return batch * buffers_[id].per_sample(); };
  auto poison_buffer = [&](int id) {  // float NaN; a uint8 buffer gets 0xFF bytes
    if (buffers_[id].elem_bytes == 4) fill_nan(addr(id), count(id));
    else std::memset(addr(id), 0xFF, size_t(count(id) * buffers_[id].elem_bytes));
  };
  if (poison) fill_nan(arena, arena_bytes_ / int64_t(sizeof(float)));

  const int team = num_threads();
  if (node_seconds) node_seconds->assign(nodes_.size(), 0.0);
  for (int i = 0; i < int(nodes_.size()); ++i) {
    const Node& n = nodes_[i];
    const auto start = node_seconds ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point();
    float* out = addr(n.output);
    float* scratch = n.scratch_offset >= 0 ? arena + n.scratch_offset / int64_t(sizeof(float)) : nullptr;
    // A concat whose parts already sit in its bytes: the root of in-place parts, or an earlier
    // concat of a chain (its output is the root's first bytes).
    const bool parts_in_place = n.kind == OpKind::concat && buffers_[n.inputs[0]].concat_root >= 0 &&
                                (buffers_[n.inputs[0]].concat_root == n.output ||
                                 buffers_[n.output].concat_root == buffers_[n.inputs[0]].concat_root);
    if (poison && !(n.kind == OpKind::channel_scale && out == addr(n.inputs[0])) &&
        !parts_in_place) {  // not over an in-place input
      poison_buffer(n.output);
      if (scratch) fill_nan(scratch, n.scratch_bytes / int64_t(sizeof(float)));
    }
    const float* in0 = addr(n.inputs[0]);
    // Depthwise layers count as elementwise work: a few taps per value, bound by moving the
    // data (MobileNet-v2's 14x14 ones ran serial by their MACs and waited on the other
    // core's cache for the half of their input it had just written).
    const bool convolves = (n.kind == OpKind::conv && n.method != ConvMethod::depthwise) ||
                           n.kind == OpKind::conv_transpose;
    const int64_t work = convolves ? conv_macs(n.conv, batch)
                         // a linear layer streams its weights: at small batches they are the work
                         : n.kind == OpKind::linear ? std::max(batch * n.in_features * n.out_features / 64,
                                                               n.in_features * n.out_features / 2)
                                                    : count(n.inputs[0]) + count(n.output);
    int threads = work < (convolves ? kSerialMacs : kSerialElements) ? 1 : team;
    if (n.kind == OpKind::conv) threads = std::min(threads, planned_threads_);  // scratch is per thread
    switch (n.kind) {
      case OpKind::conv:
        conv_forward(n, batch, in0, n.inputs.size() > 1 ? addr(n.inputs[1]) : nullptr, out, scratch, threads);
        break;
      case OpKind::conv_transpose: conv_transpose_forward(n, batch, in0, out, scratch, threads); break;
      case OpKind::max_pool: max_pool_forward(n, batch, in0, out, threads); break;
      case OpKind::avg_pool: avg_pool_forward(n, batch, in0, out, threads); break;
      case OpKind::global_avg_pool: global_avg_pool_forward(n, batch, in0, out, threads); break;
      case OpKind::linear: linear_forward(n, batch, in0, out, threads); break;
      case OpKind::add: add_forward(n, count(n.output), in0, addr(n.inputs[1]), out, threads); break;
      case OpKind::flatten:
        std::memcpy(out, in0, size_t(count(n.output) * buffers_[n.output].elem_bytes));
        break;
      case OpKind::softmax: softmax_forward(n, batch, in0, out); break;
      case OpKind::channel_affine: channel_affine_forward(n, batch, in0, out, threads); break;
      case OpKind::activation: activation_forward(n, count(n.output), in0, out, threads); break;
      case OpKind::channel_scale: channel_scale_node_forward(n, batch, in0, addr(n.inputs[1]), out, threads); break;
      case OpKind::interpolate: interpolate_node_forward(n, batch, in0, out, threads); break;
      case OpKind::pixel_shuffle: pixel_shuffle_node_forward(n, batch, in0, out, threads); break;
      case OpKind::pixel_unshuffle: pixel_unshuffle_node_forward(n, batch, in0, out, threads); break;
      case OpKind::channel_shuffle: channel_shuffle_node_forward(n, batch, in0, out, threads); break;
      case OpKind::channel_slice: {
        const auto& x = buffers_[n.inputs[0]];
        const int64_t plane = x.per_sample() / x.shape[1];  // elements per channel
        channel_slice_forward(batch, in0, x.per_sample(), n.factor * plane, out, buffers_[n.output].per_sample());
        break;
      }
      case OpKind::concat: {
        if (parts_in_place) break;  // nothing to move
        const int64_t total = buffers_[n.output].per_sample();
        int64_t offset = 0;
        for (int id : n.inputs) {
          const int64_t per = buffers_[id].per_sample();
          concat_part_forward(batch, addr(id), per, out, total, offset);
          offset += per;
        }
        break;
      }
      case OpKind::quantize: case OpKind::dequantize: case OpKind::conv_int8: case OpKind::linear_int8:
      case OpKind::max_pool_u8: case OpKind::avg_pool_u8: case OpKind::global_avg_pool_u8:
      case OpKind::concat_u8: {
        thread_local std::vector<const void*> ins;  // reused: a run allocates nothing
        ins.clear();
        for (int id : n.inputs) ins.push_back(addr(id));
        int8_node_forward(n, batch, ins, out, scratch, std::min(team, planned_threads_));
        break;
      }
    }
    if (node_seconds)
      (*node_seconds)[i] = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (poison) {
      for (int id : n.inputs)
        if (id != 0 && id != output_ && buffers_[id].last == i && buffers_[id].concat_root < 0) poison_buffer(id);
    }
  }
}

}  // namespace engine
}  // namespace cnnnative
