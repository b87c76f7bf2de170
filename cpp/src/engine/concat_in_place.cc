// Concatenation without the copy: in a batch-1 plan, the buffers a concat joins along the
// channels are laid out back to back inside the concat's output, so the nodes that produce
// them write straight into their slice and the concat node has nothing left to move
// (SqueezeNet's fire modules, the Inception branches: 140 us of copies per SqueezeNet run).
//
// Only where nothing else can see the difference: the plan's batch is 1 (at larger batches
// the parts interleave per sample), every part is a float buffer written by a node of this
// plan, joined by this concat alone, read by nothing after it, and not sharing bytes with
// another buffer (the channel_scale in-place rule), nor itself a concat with its parts in
// place (its own offset is placed first); each slice starts 64-byte aligned, as
// every arena buffer does; the concat's output is an arena buffer (not the caller's array).
#include <algorithm>

#include "engine/kernels.h"

namespace cnnnative {
namespace engine {

std::vector<int> concat_parts_in_place(const std::vector<Node>& nodes, const std::vector<BufferInfo>& buffers,
                                       int plan_output, const std::vector<int>& alias_of) {
  std::vector<int> root_of(buffers.size(), -1);
  if (buffers.empty() || buffers[0].shape.empty() || buffers[0].shape[0] != 1) return root_of;
  std::vector<char> shares(buffers.size(), 0);  // in a channel_scale alias, either side
  for (size_t id = 0; id < alias_of.size(); ++id)
    if (alias_of[id] >= 0) shares[id] = shares[size_t(alias_of[id])] = 1;
  std::vector<char> is_root(buffers.size(), 0);  // a concat with parts in place (not nested in another)
  std::vector<int> joins(buffers.size(), 0);  // how many concat inputs name each buffer
  for (const Node& n : nodes)
    if (n.kind == OpKind::concat)
      for (int id : n.inputs) ++joins[size_t(id)];
  for (int i = 0; i < int(nodes.size()); ++i) {
    const Node& n = nodes[i];
    const int out = n.output;
    if (n.kind != OpKind::concat || out == plan_output || shares[size_t(out)] || buffers[out].elem_bytes != 4 ||
        buffers[out].shape[0] != 1)
      continue;
    bool ok = true;
    int64_t offset = 0;
    for (int id : n.inputs) {
      const BufferInfo& b = buffers[id];
      ok = ok && id != 0 && id != plan_output && b.first >= 0 && b.first < i && b.last == i && b.elem_bytes == 4 &&
           joins[size_t(id)] == 1 && !shares[size_t(id)] && !is_root[size_t(id)] && b.shape[0] == 1 &&
           offset % 64 == 0;
      offset += ok ? b.bytes() : 0;
    }
    if (!ok) continue;
    for (int id : n.inputs) root_of[size_t(id)] = out;
    is_root[size_t(out)] = 1;
  }
  return root_of;
}

}  // namespace engine
}  // namespace cnnnative
