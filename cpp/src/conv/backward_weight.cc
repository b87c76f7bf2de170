// PLACEHOLDER until the im2col weight gradient lands.
#include <stdexcept>

#include "cnnnative/conv.h"

namespace cnnnative {
void conv2d_backward_weight(const ConvParams& p, const float*, const float*, float*, float*) {
  p.validate();
  throw std::runtime_error("conv2d_backward_weight: not built yet");
}
}  // namespace cnnnative
