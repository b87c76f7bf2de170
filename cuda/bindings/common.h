// Shared helpers of the _cuda bindings: argument checks on device tensors, output
// allocation, and the per-area binding functions module.cc calls.
#pragma once
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <string>
#include <vector>

#include "cnnnative/errors.h"
#include "tensor.h"

namespace cnnnative {
namespace cuda {

namespace py = pybind11;

// ValueError unless t has `ndim` dimensions and dtype `dtype` (TypeError for the dtype).
inline void require(const Tensor& t, int64_t ndim, DType dtype, const char* name) {
  if (t.dtype != dtype)
    throw py::type_error(concat(name, " must be a ", dtype_name(dtype), " tensor, got ", dtype_name(t.dtype)));
  if (ndim >= 0)
    CN_CHECK(t.ndim() == ndim, name, " must be ", ndim, "-D, got shape ", t.shape_string());
}

inline void require_same_device(const Tensor& a, const Tensor& b, const char* name_a, const char* name_b) {
  CN_CHECK(a.device == b.device, name_a, " is on cuda:", a.device, " but ", name_b, " is on cuda:", b.device);
}

inline void require_same_shape(const Tensor& a, const Tensor& b, const char* name_a, const char* name_b) {
  CN_CHECK(a.shape == b.shape, name_a, " has shape ", a.shape_string(), " but ", name_b, " has shape ",
           b.shape_string());
}

// Whether two tensors' memory ranges intersect (outputs must not overlap what a kernel
// still reads, unless it is written element by element in place).
inline bool overlaps(const Tensor& a, const Tensor& b) {
  if (a.nbytes() == 0 || b.nbytes() == 0) return false;
  const auto a0 = reinterpret_cast<uintptr_t>(a.data), b0 = reinterpret_cast<uintptr_t>(b.data);
  return a0 < b0 + b.nbytes() && b0 < a0 + a.nbytes();
}

inline Tensor new_like(const Tensor& t) { return empty_tensor(t.shape, t.dtype, t.device); }

void bind_tensor(py::module_& m);
void bind_conv(py::module_& m);
void bind_misc_ops(py::module_& m);

}  // namespace cuda
}  // namespace cnnnative
