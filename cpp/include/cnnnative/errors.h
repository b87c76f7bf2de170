// Errors that cross into Python.
//
// Kernels never crash on bad input: every entry point validates its descriptor first
// and throws one of these. The bindings let pybind11 translate them:
//   std::invalid_argument -> ValueError, std::overflow_error -> OverflowError.
#pragma once
#include <cstdint>
#include <sstream>
#include <stdexcept>
#include <string>

namespace cnnnative {

namespace detail {
inline void append(std::ostringstream&) {}
template <typename T, typename... Rest>
void append(std::ostringstream& os, const T& v, const Rest&... rest) {
  os << v;
  append(os, rest...);
}
}  // namespace detail

// Builds a message from any streamable pieces: concat("weight has ", k, " channels").
template <typename... Parts>
std::string concat(const Parts&... parts) {
  std::ostringstream os;
  detail::append(os, parts...);
  return os.str();
}

// CN_CHECK(cond, "message pieces", ...) throws ValueError in Python when cond is false.
#define CN_CHECK(cond, ...)                                               \
  do {                                                                    \
    if (!(cond)) throw std::invalid_argument(::cnnnative::concat(__VA_ARGS__)); \
  } while (0)

// Size arithmetic in 64 bits with overflow detection: a product of user-supplied
// sizes that does not fit int64 is an OverflowError, never a wrapped allocation.
inline int64_t checked_mul(int64_t a, int64_t b, const char* what = "size") {
  int64_t r;
  if (__builtin_mul_overflow(a, b, &r))
    throw std::overflow_error(concat(what, ": ", a, " * ", b, " overflows int64"));
  return r;
}
inline int64_t checked_add(int64_t a, int64_t b, const char* what = "size") {
  int64_t r;
  if (__builtin_add_overflow(a, b, &r))
    throw std::overflow_error(concat(what, ": ", a, " + ", b, " overflows int64"));
  return r;
}
// Product of a list of sizes, each non-negative, checked for overflow.
inline int64_t checked_numel(std::initializer_list<int64_t> dims, const char* what = "tensor size") {
  int64_t n = 1;
  for (int64_t d : dims) {
    if (d < 0) throw std::invalid_argument(concat(what, ": negative dimension ", d));
    n = checked_mul(n, d, what);
  }
  return n;
}

}  // namespace cnnnative
