# pip builds in an isolated environment whose path changes with every `pip install`, and
# pybind11's headers live in it. Every compile command (its -isystem path) and every
# dependency file would then change between two installs, and the persistent build
# directory (pyproject.toml: build-dir) would recompile everything: the README's second
# command rebuilt the whole extension after the first. A copy of the headers at a fixed
# place in the build directory, rewritten only when their content changes (configure_file
# leaves an identical file untouched), keeps that second build incremental.
if(TARGET pybind11::pybind11_headers AND pybind11_INCLUDE_DIR)
  set(_cnn_pyb_copy "${CMAKE_BINARY_DIR}/pybind11-include")
  file(GLOB_RECURSE _cnn_pyb_headers RELATIVE "${pybind11_INCLUDE_DIR}" "${pybind11_INCLUDE_DIR}/pybind11/*")
  foreach(_h IN LISTS _cnn_pyb_headers)
    configure_file("${pybind11_INCLUDE_DIR}/${_h}" "${_cnn_pyb_copy}/${_h}" COPYONLY)
  endforeach()
  set_property(TARGET pybind11::pybind11_headers PROPERTY INTERFACE_INCLUDE_DIRECTORIES "${_cnn_pyb_copy}")
  message(STATUS "cnnnative: pybind11 ${pybind11_VERSION} headers copied to ${_cnn_pyb_copy} (a stable path)")
endif()
