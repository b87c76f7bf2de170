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
//
// DenseNet's chains as well: each layer of a dense block joins all the block's features so
// far, so concat j's inputs are concat j-1's plus one (x0, y1, ..., yj). There every part
// lives in the chain's last concat (the root), and each earlier concat's output is the
// root's first bytes (root_of[its output] = the root too): no concat of the chain copies
// anything (DenseNet-121: 58 concats, 8% of its run). The parts must be joined by the chain
// alone and read by nothing after the root; the earlier outputs are only read (never a part
// of a concat, never shared in place).
#include <algorithm>

#include "engine/kernels.h"

namespace cnnnative {
namespace engine {

namespace {

bool is_prefix(const std::vector<int>& a, const std::vector<int>& b) {
  return a.size() < b.size() && std::equal(a.begin(), a.end(), b.begin());
}

// The chains described above, for the concats the single-concat rule left.
void concat_chains_in_place(const std::vector<Node>& nodes, const std::vector<BufferInfo>& buffers, int plan_output,
                            const std::vector<char>& shares, const std::vector<int>& joins,
                            std::vector<int>& root_of) {
  const int count = int(nodes.size());
  std::vector<int> next(size_t(count), -1);  // the chain's next concat after node i
  std::vector<char> has_previous(size_t(count), 0);
  for (int i = 0; i < count; ++i) {
    if (nodes[i].kind != OpKind::concat || root_of[size_t(nodes[i].output)] >= 0) continue;
    for (int k = i + 1; k < count && next[size_t(i)] < 0; ++k)
      if (nodes[k].kind == OpKind::concat && is_prefix(nodes[i].inputs, nodes[k].inputs)) next[size_t(i)] = k;
    if (next[size_t(i)] >= 0) has_previous[size_t(next[size_t(i)])] = 1;
  }
  auto plain_output = [&](int id) {  // a float arena buffer no one aliases or joins
    const BufferInfo& b = buffers[size_t(id)];
    return id != 0 && id != plan_output && !shares[size_t(id)] && joins[size_t(id)] == 0 && b.elem_bytes == 4 &&
           b.shape[0] == 1 && root_of[size_t(id)] < 0;
  };
  for (int first = 0; first < count; ++first) {
    if (next[size_t(first)] < 0 || has_previous[size_t(first)]) continue;  // not a chain's start
    std::vector<int> chain{first};
    while (next[size_t(chain.back())] >= 0) chain.push_back(next[size_t(chain.back())]);
    const int root_node = chain.back();
    const Node& root = nodes[size_t(root_node)];
    bool ok = true;
    // The earlier outputs are the root's first bytes: read while the root holds them.
    for (int i : chain)
      ok = ok && plain_output(nodes[size_t(i)].output) &&
           buffers[size_t(nodes[size_t(i)].output)].last <= buffers[size_t(root.output)].last;
    // Each part: written before the first concat that joins it, joined by this chain alone
    // (once per concat from that one on), read by nothing after the root, slices aligned.
    int64_t offset = 0;
    for (size_t p = 0; ok && p < root.inputs.size(); ++p) {
      const int id = root.inputs[p];
      const BufferInfo& b = buffers[size_t(id)];
      size_t joined_from = 0;
      while (nodes[size_t(chain[joined_from])].inputs.size() <= p) ++joined_from;
      ok = id != 0 && id != plan_output && b.first >= 0 && b.first < chain[joined_from] && b.last == root_node &&
           b.elem_bytes == 4 && b.shape[0] == 1 && !shares[size_t(id)] && root_of[size_t(id)] < 0 &&
           joins[size_t(id)] == int(chain.size() - joined_from) && offset % 64 == 0;
      offset += b.bytes();
      for (size_t q = 0; ok && q < p; ++q) ok = root.inputs[q] != id;  // no part twice
    }
    if (!ok) continue;
    for (int id : root.inputs) root_of[size_t(id)] = root.output;
    for (size_t c = 0; c + 1 < chain.size(); ++c) root_of[size_t(nodes[size_t(chain[c])].output)] = root.output;
  }
}

}  // namespace

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
  concat_chains_in_place(nodes, buffers, plan_output, shares, joins, root_of);
  return root_of;
}

}  // namespace engine
}  // namespace cnnnative
