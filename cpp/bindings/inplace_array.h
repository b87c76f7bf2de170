// Arrays an optimizer step updates in place (parameters and their state buffers).
//
// They must already be C-contiguous, aligned, writeable float32 numpy arrays: converting
// them would update a copy and silently lose the step, so anything else is a ValueError
// naming the op and the argument.
#pragma once
#include <initializer_list>
#include <string>
#include <utility>

#include "arrays.h"

namespace cnnnative {

inline py::array_t<float> require_inplace(const py::object& obj, const char* op, const char* name) {
  CN_CHECK(py::isinstance<py::array>(obj), op, ": ", name, " must be a numpy float32 array (updated in place), got ",
           std::string(py::str(py::type::of(obj).attr("__name__"))));
  py::array a = obj.cast<py::array>();
  CN_CHECK(a.dtype().is(py::dtype::of<float>()), op, ": ", name, " must be float32 to be updated in place, got dtype ",
           std::string(py::str(a.dtype())));
  CN_CHECK(a.flags() & py::array::c_style, op, ": ", name, " must be C-contiguous to be updated in place (shape ",
           shape_string(a), ")");
  CN_CHECK(a.writeable(), op, ": ", name, " is read-only; it must be writeable to be updated in place");
  require_aligned(a, name);
  return py::array_t<float>(a);  // same memory: dtype already float32
}

inline void require_same_shape(const char* op, const py::array& a, const char* an, const py::array& b,
                               const char* bn) {
  bool same = a.ndim() == b.ndim();
  for (py::ssize_t i = 0; same && i < a.ndim(); ++i) same = a.shape(i) == b.shape(i);
  CN_CHECK(same, op, ": ", an, " has shape ", shape_string(a), " but ", bn, " has shape ", shape_string(b));
}

// The arrays one step writes must be distinct memory: the kernel reads and writes each
// element of each once, so two names for one buffer would mix two quantities.
inline void require_distinct(const char* op, std::initializer_list<std::pair<const char*, const py::array*>> arrays) {
  for (auto i = arrays.begin(); i != arrays.end(); ++i)
    for (auto j = i + 1; j != arrays.end(); ++j)
      if (i->second->size() > 0 && j->second->size() > 0) {
        const char* a = static_cast<const char*>(i->second->data());
        const char* b = static_cast<const char*>(j->second->data());
        const py::ssize_t bytes = i->second->nbytes();  // same shapes, checked before
        CN_CHECK(a + bytes <= b || b + bytes <= a, op, ": ", j->first, " must not share memory with ", i->first);
      }
}

}  // namespace cnnnative
