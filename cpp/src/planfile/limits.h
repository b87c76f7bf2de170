// The loader's resource limit, adjustable by the fuzzer (and tests) without being part of
// the public header: no buffer of a loaded plan may exceed this many bytes (the arena four
// times it), so a small file cannot make loading allocate or plan absurd amounts.
#pragma once
#include <cstdint>

namespace cnnnative::planfile {
void set_max_buffer_bytes(int64_t bytes);  // default 2^38 (256 GiB)
int64_t max_buffer_bytes();
// false: a file asking for autotune is built with the heuristic choice instead (the fuzzer:
// timing kernels is not loading, and it is a hundred times slower).
void set_autotune_allowed(bool allowed);
}  // namespace cnnnative::planfile
