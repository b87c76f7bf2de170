// The argmax positions max pooling can return (int64, torch's flat layout) and the checks a
// max-pool backward makes on the indices it receives: one place for the 2-D, 3-D and
// adaptive bindings.
#pragma once
#include <vector>

#include "act/debug_fill.h"
#include "arrays.h"

namespace cnnnative {

struct OptionalIndices {
  py::object array = py::none();  // what Python receives: the indices, or None
  int64_t* data = nullptr;        // what the kernel writes: null when not wanted
};

// An indices array of `shape` (-1-filled under the debug fill) when wanted, else None.
inline OptionalIndices optional_indices(bool wanted, const std::vector<py::ssize_t>& shape) {
  OptionalIndices out;
  if (!wanted) return out;
  IndexArray idx(shape);
  out.data = idx.mutable_data();
  poison(out.data, static_cast<int64_t>(idx.size()));
  out.array = idx;
  return out;
}

// grad_output and indices both `ndim`-D and of one shape.
inline void require_matching_indices(const FloatArray& dy, const IndexArray& indices, py::ssize_t ndim,
                                     const char* op) {
  require_ndim(dy, ndim, "grad_output");
  require_ndim(indices, ndim, "indices");
  for (py::ssize_t i = 0; i < ndim; ++i)
    CN_CHECK(dy.shape(i) == indices.shape(i), op, ": grad_output has shape ", shape_string(dy),
             " but indices has shape ", shape_string(indices));
}

}  // namespace cnnnative
