// Array conventions shared by all bindings.
//
// Inputs are accepted as any array-like; non-float32, non-contiguous, unaligned or
// read-only arrays are converted/copied to a C-contiguous float32 array first
// (py::array::forcecast), so callers always get the right answer. Outputs are new
// C-contiguous float32 arrays unless an `out=` is given, which must already be one.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>
#include <vector>

#include "cnnnative/errors.h"

namespace cnnnative {

namespace py = pybind11;
using FloatArray = py::array_t<float, py::array::c_style | py::array::forcecast>;
using IndexArray = py::array_t<int64_t, py::array::c_style | py::array::forcecast>;

inline std::string shape_string(const py::array& a) {
  std::string s = "(";
  for (py::ssize_t i = 0; i < a.ndim(); ++i) {
    if (i) s += ", ";
    s += std::to_string(a.shape(i));
  }
  if (a.ndim() == 1) s += ",";
  return s + ")";
}

// Throws ValueError unless `a` has `ndim` dimensions.
inline void require_ndim(const py::array& a, py::ssize_t ndim, const char* name) {
  CN_CHECK(a.ndim() == ndim, name, " must be ", ndim, "-D, got shape ", shape_string(a));
}

// New outputs start on a 64-byte boundary (one AVX-512 vector, one cache line). numpy's
// allocator gives 16, and a kernel whose row stores all straddle two cache lines pays for
// it: the 3x3 depthwise kernel measured 18% slower on a misaligned output. The array is a
// view into a numpy-owned buffer 16 floats longer, so numpy still owns and frees it.
inline FloatArray new_float_array(const std::vector<int64_t>& shape) {
  std::vector<py::ssize_t> s(shape.begin(), shape.end());
  int64_t n = 1;
  for (int64_t d : shape) {
    CN_CHECK(d >= 0, "output dimension must be >= 0, got ", d);
    n = checked_mul(n, d, "output size");
  }
  if (n < 64) return FloatArray(s);  // small outputs: not worth a view
  constexpr py::ssize_t kAlignFloats = 16;
  FloatArray buffer(std::vector<py::ssize_t>{static_cast<py::ssize_t>(checked_add(n, kAlignFloats, "output size"))});
  const auto address = reinterpret_cast<std::uintptr_t>(buffer.data());
  const py::ssize_t skip = static_cast<py::ssize_t>((64 - address % 64) % 64 / sizeof(float));
  return FloatArray(s, buffer.data() + skip, buffer);
}

// An `out=` argument must be exactly what we would have allocated.
inline void require_output(const py::array_t<float>& out, const std::vector<int64_t>& shape,
                           const char* name) {
  CN_CHECK(out.ndim() == static_cast<py::ssize_t>(shape.size()), name, " has shape ",
           shape_string(out), ", expected ", shape.size(), " dimensions");
  for (size_t i = 0; i < shape.size(); ++i)
    CN_CHECK(out.shape(i) == shape[i], name, " has shape ", shape_string(out),
             ", expected dimension ", i, " to be ", shape[i]);
  CN_CHECK(out.flags() & py::array::c_style, name, " must be C-contiguous");
  CN_CHECK(out.writeable(), name, " must be writeable");
}

}  // namespace cnnnative
