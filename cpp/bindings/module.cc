// The _core module: runs every registered binding function (see registry.h).
#include <pybind11/pybind11.h>

#include <string>
#include <utility>
#include <vector>

#include "registry.h"

namespace cnnnative {

static std::vector<std::pair<const char*, BindingFunction>>& registered_bindings() {
  static std::vector<std::pair<const char*, BindingFunction>> v;
  return v;
}

void register_binding(const char* name, BindingFunction fn) { registered_bindings().emplace_back(name, fn); }

}  // namespace cnnnative

PYBIND11_MODULE(_core, m) {
  m.doc() = "cnnnative C++ core: CPU kernels (NCHW float32, OIHW weights).";
  for (auto& [name, fn] : cnnnative::registered_bindings()) fn(m);
}
