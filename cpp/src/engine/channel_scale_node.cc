// The squeeze-and-excitation scale as an engine node, y[n, c, ...] = x[n, c, ...] * s[n, c],
// and the rule that lets it run in place: when the node is the last reader of its input
// buffer (an arena buffer, neither the plan's input nor its output), the output takes the
// input's bytes, so the block's gate costs one read and one write of the feature map and
// no second buffer.
#include "engine/kernels.h"
#include "resample/resample.h"

namespace cnnnative {
namespace engine {

void channel_scale_node_forward(const Node& n, int64_t batch, const float* x, const float* s, float* y,
                                int threads) {
  int64_t hw = 1;
  for (size_t i = 2; i < n.in_shape.size(); ++i) hw *= n.in_shape[i];
  // channel_scale_forward splits the planes over the library's threads itself; a node the
  // executor judged too small for a team runs on one.
  const int64_t planes = batch * n.in_shape[1];
  // The SE gates of 7x7 and 14x14 maps take 3-9 us on one core: a team is not worth waking.
  if (threads <= 1 || planes * hw < (int64_t{1} << 17)) {
    channel_scale_forward_serial(x, s, y, planes, hw);
  } else {
    channel_scale_forward(x, s, y, planes, hw);
  }
}

std::vector<int> alias_in_place_outputs(const std::vector<Node>& nodes, std::vector<BufferInfo>& buffers,
                                        int plan_output) {
  std::vector<int> alias_of(buffers.size(), -1);
  for (int i = 0; i < int(nodes.size()); ++i) {
    const Node& n = nodes[i];
    if (n.kind != OpKind::channel_scale) continue;
    const int in = n.inputs[0];
    if (in == 0 || in == plan_output || n.output == plan_output || buffers[in].last != i) continue;
    const int root = alias_of[in] >= 0 ? alias_of[in] : in;
    alias_of[n.output] = root;
    // The shared bytes live until the output's last reader (the executor poisons a buffer
    // after its last reader in tests, so the input's lifetime is extended too).
    buffers[root].last = buffers[in].last = std::max(buffers[root].last, buffers[n.output].last);
  }
  return alias_of;
}

}  // namespace engine
}  // namespace cnnnative
