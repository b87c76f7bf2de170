// Each bindings/*.cc registers its functions here, so areas of the library add their
// Python entry points without editing a shared file. module.cc runs them all.
#pragma once
#include <pybind11/pybind11.h>

namespace cnnnative {

using BindingFunction = void (*)(pybind11::module_& m);
void register_binding(const char* name, BindingFunction fn);

struct BindingRegistrar {
  BindingRegistrar(const char* name, BindingFunction fn) { register_binding(name, fn); }
};

}  // namespace cnnnative

#define CNNNATIVE_BINDINGS(name)                                                    \
  static void cnnnative_bind_##name(pybind11::module_& m);                          \
  static ::cnnnative::BindingRegistrar cnnnative_binding_registrar_##name(#name,     \
                                                                          &cnnnative_bind_##name); \
  static void cnnnative_bind_##name(pybind11::module_& m)
