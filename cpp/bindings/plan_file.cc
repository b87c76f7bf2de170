// The plan file loader for Python (cnnnative.load_plan; see cnnnative/plan_file.h).
#include <pybind11/stl.h>

#include "cnnnative/errors.h"
#include "cnnnative/plan_file.h"
#include "planfile/limits.h"
#include "registry.h"

using namespace cnnnative;
namespace py = pybind11;

namespace {
namespace plan_file_binding {  // a name per file: the bindings compile as unity sources

py::tuple to_python(planfile::LoadedPlan&& loaded) {
  py::object plan = py::cast(std::move(loaded.plan));
  return py::make_tuple(plan, py::make_tuple(loaded.input.name, loaded.input.shape),
                        py::make_tuple(loaded.output.name, loaded.output.shape));
}

CNNNATIVE_BINDINGS(plan_file) {
  m.def("load_plan_bytes",
        [](py::buffer data) {
          py::buffer_info info = data.request();
          const int64_t bytes = info.size * info.itemsize;
          CN_CHECK(info.ndim <= 1 && (info.ndim == 0 || info.strides[0] == info.itemsize),
                   "load_plan_bytes: data must be a contiguous bytes-like object");
          planfile::LoadedPlan loaded;
          {
            py::gil_scoped_release release;
            loaded = planfile::load_from_memory(info.ptr, size_t(bytes));
          }
          return to_python(std::move(loaded));
        },
        py::arg("data"),
        "Load a plan file from bytes: (EnginePlan, (input name, shape), (output name, shape)).");
  m.def("load_plan_file",
        [](const std::string& path) {
          planfile::LoadedPlan loaded;
          {
            py::gil_scoped_release release;
            loaded = planfile::load_from_file(path);
          }
          return to_python(std::move(loaded));
        },
        py::arg("path"), "Load a plan file from a path: (EnginePlan, (input name, shape), (output name, shape)).");
  m.def("plan_crc32",
        [](py::bytes data) {
          const std::string s = data;
          return planfile::crc32(s.data(), s.size());
        },
        py::arg("data"), "CRC-32 (zlib's) of bytes, as the plan file checksum uses.");
  m.def("_plan_loader_max_buffer_bytes",
        [](int64_t bytes) {
          const int64_t old = planfile::max_buffer_bytes();
          if (bytes > 0) planfile::set_max_buffer_bytes(bytes);
          return old;
        },
        py::arg("bytes") = 0, "Test hook: the loader's per-buffer byte limit (set when bytes > 0); returns the old one.");
}

}  // namespace plan_file_binding
}  // namespace
