// A pooling window of the engine (cnnnative/engine.h's PoolWindow) from the bindings'
// (kernel, stride, pads top/bottom/left/right, dilation) tuples: shared by the float and
// the uint8 pool nodes.
#pragma once
#include <array>
#include <cstdint>

#include "cnnnative/engine.h"

namespace cnnnative {
namespace bindings {

inline engine::PoolWindow pool_window(std::array<int64_t, 2> k, std::array<int64_t, 2> s, std::array<int64_t, 4> pad,
                                      std::array<int64_t, 2> d, bool ceil_mode, bool count_include_pad) {
  engine::PoolWindow w;
  w.kh = k[0], w.kw = k[1];
  w.sh = s[0], w.sw = s[1];
  w.pad_top = pad[0], w.pad_bottom = pad[1], w.pad_left = pad[2], w.pad_right = pad[3];
  w.dh = d[0], w.dw = d[1];
  w.ceil_mode = ceil_mode;
  w.count_include_pad = count_include_pad;
  return w;
}

}  // namespace bindings
}  // namespace cnnnative
