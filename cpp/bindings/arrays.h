// Array conventions shared by all bindings.
//
// Inputs are accepted as any array-like; non-float32, non-contiguous or unaligned arrays
// are converted/copied to a C-contiguous, aligned float32 array first, so callers always
// get the right answer and kernels may assume every element is aligned to its type.
// Outputs are new C-contiguous float32 arrays unless an `out=` is given, which must
// already be one (and aligned: a ValueError otherwise, since a copy would lose the result).
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>
#include <vector>

#include "cnnnative/errors.h"
#include "output_cache.h"

namespace cnnnative {

namespace py = pybind11;

// NumPy's NPY_ARRAY_ALIGNED. pybind11 passes these flags to PyArray_FromAny, which copies
// an array whose data pointer is not a multiple of its element size (e.g. a float32 view
// at byte offset 1); without it such arrays reach the kernels as they are.
constexpr int kAligned = py::detail::npy_api::NPY_ARRAY_ALIGNED_;
constexpr int kKernelArrayFlags = py::array::c_style | py::array::forcecast | kAligned;
template <typename T>
using KernelArray = py::array_t<T, kKernelArrayFlags>;
using FloatArray = KernelArray<float>;
using IndexArray = KernelArray<int64_t>;

}  // namespace cnnnative

namespace pybind11::detail {
// The conversion of every kernel input: pybind11's own (PyArray_FromAny with the flags
// above), except that a complex array is a TypeError; forcecast would drop the imaginary
// part with only a warning. More specialised than pybind11's array_t caster, so it wins.
template <typename T>
struct pyobject_caster<array_t<T, cnnnative::kKernelArrayFlags>> {
  using type = array_t<T, cnnnative::kKernelArrayFlags>;

  bool load(handle src, bool convert) {
    if (isinstance<array>(src)) {
      const dtype dt = reinterpret_borrow<array>(src).dtype();
      if (dt.kind() == 'c') throw type_error("expected a real array, got dtype " + std::string(str(dt)));
    }
    if (!convert && !type::check_(src)) return false;
    value = type::ensure(src);
    return static_cast<bool>(value);
  }

  static handle cast(const handle& src, return_value_policy, handle) { return src.inc_ref(); }
  PYBIND11_TYPE_CASTER(type, handle_type_name<type>::name);
};
}  // namespace pybind11::detail

namespace cnnnative {

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
// it: the 3x3 depthwise kernel measured 18% slower on a misaligned output. A large output
// is a block of the output cache (output_cache.h), reused across steps; a smaller one is a
// view into a numpy-owned buffer 16 floats longer, so numpy still owns and frees it.
inline FloatArray new_float_array(const std::vector<int64_t>& shape) {
  std::vector<py::ssize_t> s(shape.begin(), shape.end());
  int64_t n = 1;
  for (int64_t d : shape) {
    CN_CHECK(d >= 0, "output dimension must be >= 0, got ", d);
    n = checked_mul(n, d, "output size");
  }
  if (n < 64) return FloatArray(s);  // small outputs: not worth a view
  const auto bytes = static_cast<std::size_t>(checked_mul(n, int64_t(sizeof(float)), "output size"));
  if (bytes >= OutputCache::kMinBytes) {
    // Large outputs come from (and return to) the output cache: a header of kAlign bytes
    // in front of the data remembers the block's size for the capsule that frees it.
    auto* block = static_cast<char*>(OutputCache::instance().take(bytes + OutputCache::kAlign));
    *reinterpret_cast<std::size_t*>(block) = bytes + OutputCache::kAlign;
    py::capsule owner(block, [](void* p) {
      OutputCache::instance().give(p, *static_cast<std::size_t*>(p));
    });
    return FloatArray(s, reinterpret_cast<float*>(block + OutputCache::kAlign), owner);
  }
  constexpr py::ssize_t kAlignFloats = 16;
  FloatArray buffer(std::vector<py::ssize_t>{static_cast<py::ssize_t>(checked_add(n, kAlignFloats, "output size"))});
  const auto address = reinterpret_cast<std::uintptr_t>(buffer.data());
  const py::ssize_t skip = static_cast<py::ssize_t>((64 - address % 64) % 64 / sizeof(float));
  return FloatArray(s, buffer.data() + skip, buffer);
}

// Arrays the kernels write in place cannot be copied; a misaligned one is a ValueError.
inline void require_aligned(const py::array& a, const char* name) {
  CN_CHECK(a.flags() & kAligned, name, " must be aligned to its ", a.itemsize(),
           "-byte elements (it is written in place; got a view at an odd byte offset)");
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
  require_aligned(out, name);
}

}  // namespace cnnnative
