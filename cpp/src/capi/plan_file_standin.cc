// TEMPORARY stand-in until the plan file loader (branch planfile, cpp/src/planfile) is
// merged: weak definitions that the real loader replaces. Delete on that merge.
#include <stdexcept>

#include "cnnnative/plan_file.h"

namespace cnnnative::planfile {
__attribute__((weak)) LoadedPlan load_from_memory(const void*, size_t) {
  throw std::invalid_argument("plan files are not supported by this build yet");
}
__attribute__((weak)) LoadedPlan load_from_file(const std::string&) {
  throw std::invalid_argument("plan files are not supported by this build yet");
}
}  // namespace cnnnative::planfile
