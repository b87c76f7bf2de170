// The engine's activations by the names of the ops they fuse (gelu_tanh:
// gelu(approximate='tanh')): one table for every binding that takes them as strings. Which
// of them a node accepts is the node's own check (the int8 nodes refuse prelu, for one).
#pragma once
#include <stdexcept>
#include <string>
#include <utility>

#include "cnnnative/engine.h"

namespace cnnnative {
namespace engine {

inline constexpr std::pair<const char*, Activation> kActivationNames[] = {
    {"none", Activation::none},   {"relu", Activation::relu},           {"relu6", Activation::relu6},
    {"silu", Activation::silu},   {"hardswish", Activation::hardswish}, {"gelu", Activation::gelu},
    {"gelu_tanh", Activation::gelu_tanh}, {"sigmoid", Activation::sigmoid}, {"prelu", Activation::prelu},
    {"hardsigmoid", Activation::hardsigmoid}};

inline Activation parse_activation(const std::string& s) {
  if (s.empty()) return Activation::none;
  std::string names;
  for (const auto& [name, a] : kActivationNames) {
    if (s == name) return a;
    names += std::string(names.empty() ? "'" : ", '") + name + "'";
  }
  throw std::invalid_argument("activation must be one of " + names + "; got '" + s + "'");
}

inline const char* activation_name(Activation a) {
  for (const auto& [name, value] : kActivationNames)
    if (value == a) return name;
  return "?";
}

}  // namespace engine
}  // namespace cnnnative
