// channel_shuffle (ShuffleNet) as an engine node: whole planes moved by the layout kernel
// of src/resample from the input's arena buffer into the output's, no other copy.
#include "engine/kernels.h"
#include "resample/resample.h"

namespace cnnnative {
namespace engine {

void channel_shuffle_node_forward(const Node& n, int64_t batch, const float* x, float* y, int threads) {
  const int64_t c = n.in_shape[1];
  int64_t hw = 1;
  for (size_t i = 2; i < n.in_shape.size(); ++i) hw *= n.in_shape[i];
  if (threads > 1) {
    channel_shuffle(x, y, batch, c, hw, n.factor);
    return;
  }
  // One image per call: a node the executor judged too small for a team is under the
  // kernel's own grain per image, so each call runs on the calling thread.
  for (int64_t b = 0; b < batch; ++b) channel_shuffle(x + b * c * hw, y + b * c * hw, 1, c, hw, n.factor);
}

}  // namespace engine
}  // namespace cnnnative
