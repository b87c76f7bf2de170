// The precompiled header of the engine's object libraries (CMakeLists.txt, CNNNATIVE_PCH):
// the standard headers that most of cpp/src includes, parsed once per library instead of
// once per file. Only standard headers, so editing the project's headers rebuilds no PCH.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <limits>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <tuple>
#include <utility>
#include <vector>
