// Caller-supplied outputs (`out=`): checked, then written by the kernel instead of a fresh
// array. Reusing one buffer across calls avoids re-faulting multi-MB pages every step.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <vector>

#include "arrays.h"

namespace cnnnative {

// True when the byte ranges of a and b intersect (empty arrays intersect nothing).
inline bool overlaps(const py::array& a, const py::array& b) {
  if (a.size() == 0 || b.size() == 0) return false;
  const char* a0 = static_cast<const char*>(a.data());
  const char* b0 = static_cast<const char*>(b.data());
  return a0 < b0 + b.nbytes() && b0 < a0 + a.nbytes();
}

// `out` as a float32 array of `shape`: a TypeError unless it is a float32 numpy array, a
// ValueError unless C-contiguous, writeable and of that shape. It may be exactly an input
// in `may_alias` (elementwise kernels read each element before writing its slot), but must
// not partly overlap one, nor overlap at all an input in `must_not_overlap`.
inline py::array_t<float> checked_out(const py::object& out, const std::vector<int64_t>& shape,
                                      std::initializer_list<const py::array*> may_alias,
                                      std::initializer_list<const py::array*> must_not_overlap,
                                      const char* op) {
  if (!py::isinstance<py::array>(out))
    throw py::type_error(std::string(op) + ": out must be a float32 numpy.ndarray, got " +
                         std::string(py::str(py::type::of(out))));
  auto arr = py::reinterpret_borrow<py::array>(out);
  if (!arr.dtype().is(py::dtype::of<float>()) &&
      !(arr.dtype().kind() == 'f' && arr.dtype().itemsize() == 4))
    throw py::type_error(std::string(op) + ": out must be float32, got dtype " +
                         std::string(py::str(arr.dtype())));
  auto y = py::reinterpret_borrow<py::array_t<float>>(arr);
  require_output(y, shape, "out");
  for (const py::array* in : may_alias)
    CN_CHECK(in->data() == y.data() || !overlaps(*in, y), op,
             ": out partly overlaps an input; it may only be exactly that input or separate");
  for (const py::array* in : must_not_overlap)
    CN_CHECK(!overlaps(*in, y), op, ": out must not overlap its inputs");
  return y;
}

inline std::vector<int64_t> shape_of(const py::array& a) {
  return std::vector<int64_t>(a.shape(), a.shape() + a.ndim());
}

}  // namespace cnnnative
