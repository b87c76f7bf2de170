// Library-wide settings and introspection: ISA, threads, build information.
#include <pybind11/stl.h>

#include "cnnnative/cpu_caches.h"
#include "cnnnative/isa.h"
#include "cnnnative/thread_pool.h"
#include "cnnnative/threads.h"
#include "output_cache.h"
#include "registry.h"

#ifndef CNNNATIVE_VERSION
#define CNNNATIVE_VERSION "0.0.0"
#endif
#ifndef CNNNATIVE_COMPILER
#define CNNNATIVE_COMPILER "unknown"
#endif
#ifndef CNNNATIVE_CXX_FLAGS
#define CNNNATIVE_CXX_FLAGS ""
#endif
#ifndef CNNNATIVE_NATIVE_BUILD
#define CNNNATIVE_NATIVE_BUILD 0
#endif

namespace py = pybind11;
using namespace cnnnative;

CNNNATIVE_BINDINGS(core) {
  // Read CNNNATIVE_ISA now, so a bad value fails the import with its message.
  active_isa();
  // Read the start thread count (OMP_NUM_THREADS or the CPU affinity) now, at import.
  thread_default();
  m.attr("__version__") = CNNNATIVE_VERSION;
  m.def("build_info", [] {
    py::dict d;
    d["version"] = CNNNATIVE_VERSION;
    d["compiler"] = CNNNATIVE_COMPILER;
    d["flags"] = CNNNATIVE_CXX_FLAGS;
    d["native_build"] = static_cast<bool>(CNNNATIVE_NATIVE_BUILD);
    d["openmp"] = false;  // no OpenMP runtime: regions run on the library's team (thread_pool.h)
    d["cuda_option"] = CNNNATIVE_CUDA_OPTION;  // AUTO, ON or OFF, as CMake resolved it
    d["cuda_built"] = static_cast<bool>(CNNNATIVE_CUDA_BUILT);  // _cuda was built beside _core
    return d;
  }, "Compiler, flags and options this binary was built with.");
  m.def("output_cache_bytes", [] { return OutputCache::instance().held_bytes(); },
        "Bytes of freed large outputs kept for reuse (at most 256 MB; see output_cache.h).");
  m.def("output_cache_clear", [] { OutputCache::instance().clear(); },
        "Free the kept output blocks.");
  m.def("get_isa", [] { return std::string(isa_name(active_isa())); },
        "The instruction set kernels use now: 'scalar', 'avx2' or 'avx512'.");
  m.def("set_isa", [](const std::string& name) { set_active_isa(parse_isa(name)); },
        py::arg("isa"), "Force kernels onto an ISA this CPU supports (ValueError otherwise).");
  m.def("best_isa", [] { return std::string(isa_name(best_isa())); });
  m.def("cpu_caches", [] {
    const CpuCaches& c = cpu_caches();
    py::dict d;
    d["l1d"] = c.l1d;
    d["l2"] = c.l2;
    d["l3"] = c.l3;
    d["source"] = std::string(c.source);
    return d;
  }, "Data cache sizes in bytes (L1d and L2 per core, L3 as reported) the GEMM blocking is sized for, "
     "and where they came from ('cpuid', 'sysconf' or 'default').");
  m.def("_scale_to_l2", &scale_to_l2, py::arg("tuned"), py::arg("multiple"), py::arg("l2"),
        "Testing: a block size tuned for a 1 MiB L2, scaled to an L2 of l2 bytes.");
  m.def("available_isas", [] {
    std::vector<std::string> v;
    for (Isa i : available_isas()) v.push_back(isa_name(i));
    return v;
  });
  m.def("get_num_threads", &num_threads, "Threads every kernel uses.");
  m.def("set_num_threads", &set_num_threads, py::arg("n"), "Set the threads every kernel uses (n >= 1).");
  m.def("thread_settings", [] {
    const ThreadDefault& d = thread_default();
    py::dict s;
    s["start_count"] = d.count;
    s["start_source"] = d.source;
    s["start_warning"] = d.warning;
    s["source"] = thread_count_source();
    const TeamWait w = team_wait();
    s["team_spin_us"] = w.spin_us;
    s["team_yield_us"] = w.yield_us;
    s["team_wait_source"] = std::string(w.source);
    return s;
  }, "Where the thread count came from: start value and its source (OMP_NUM_THREADS or\n"
     "CPU affinity), why OMP_NUM_THREADS was ignored (or ''), the current source, and\n"
     "how idle members of the thread team wait (and which setting chose that).");
  m.def("_set_team_wait", &set_team_wait, py::arg("spin_us"), py::arg("yield_us"),
        "Benchmarks and tests: how long idle members of the thread team pause-spin,\n"
        "then yield, before they sleep (microseconds; negative keeps a value).");
  m.def("team_contention", [] {
    const TeamContention c = team_contention();
    py::dict d;
    d["events"] = c.events;
    d["solo_us_left"] = c.solo_us_left;
    d["enabled"] = c.enabled;
    return d;
  }, "The thread team's busy-machine back-off: regions that found a member's core taken by\n"
     "another process (events), microseconds left in which regions run on the calling\n"
     "thread alone (solo_us_left), and whether the back-off is on (enabled).");
  m.def("_set_team_contention_backoff", &set_team_contention_backoff, py::arg("enabled"),
        "Benchmarks and tests: turn the busy-machine back-off off (regions always use the\n"
        "team) or on again.");
  m.def("_set_team_always_backed_off", &set_team_always_backed_off, py::arg("always"),
        "Benchmarks and tests: every parallel region that may back off runs on the calling\n"
        "thread alone, as during a busy-machine back-off (True), or as the back-off decides.");
  m.def("_parallel_team_size", [](bool may_back_off) {
    py::gil_scoped_release release;
    return parallel_team_size(may_back_off);
  }, py::arg("may_back_off") = false,
  "Testing aid: the team size of one region opened by the calling thread (may_back_off: a\n"
  "run_team region, which runs alone during a busy-machine back-off).");
}
