"""Where the C API is: headers, libcnnnative.so, the CMake package and cnnnative.pc.

A wheel (and `tools/dev-build` for PYTHONPATH=python) installs them inside the package:

    cnnnative/include/cnnnative/cnnnative.h, cnnnative.hpp
    cnnnative/lib/libcnnnative.so
    cnnnative/lib/cmake/cnnnative/cnnnative-config.cmake
    cnnnative/lib/pkgconfig/cnnnative.pc

Build a C program against them with

    cc app.c $(python -m cnnnative --cflags --libs)
    cmake -Dcnnnative_DIR=$(python -c 'import cnnnative; print(cnnnative.get_cmake_dir())') ...
"""
from __future__ import annotations

import os

__all__ = ["get_include", "get_library_dir", "get_cmake_dir", "get_pkgconfig_dir", "cflags", "libs"]

_PACKAGE = os.path.dirname(os.path.abspath(__file__))
_MISSING = ("the C API files are not installed next to the cnnnative package ({path} is missing): "
            "install the wheel (pip install .) or, in a source checkout, run tools/dev-build")


def _existing(path: str) -> str:
    if not os.path.exists(path):
        raise FileNotFoundError(_MISSING.format(path=path))
    return path


def get_include() -> str:
    """The directory to put on the include path: it holds cnnnative/cnnnative.h (C) and
    cnnnative/cnnnative.hpp (the C++ wrapper)."""
    installed = os.path.join(_PACKAGE, "include")
    if os.path.exists(os.path.join(installed, "cnnnative", "cnnnative.h")):
        return installed
    # A source checkout before tools/dev-build has installed the headers: the sources' own.
    source = os.path.join(os.path.dirname(os.path.dirname(_PACKAGE)), "cpp", "include")
    if os.path.exists(os.path.join(source, "cnnnative", "cnnnative.h")):
        return source
    return _existing(installed)


def get_library_dir() -> str:
    """The directory holding libcnnnative.so."""
    lib = os.path.join(_PACKAGE, "lib")
    _existing(os.path.join(lib, "libcnnnative.so"))
    return lib


def get_cmake_dir() -> str:
    """The directory of cnnnative-config.cmake: pass it as -Dcnnnative_DIR=... (or add it to
    CMAKE_PREFIX_PATH) for find_package(cnnnative CONFIG) and target cnnnative::cnnnative."""
    return _existing(os.path.join(_PACKAGE, "lib", "cmake", "cnnnative"))


def get_pkgconfig_dir() -> str:
    """The directory of cnnnative.pc (for PKG_CONFIG_PATH)."""
    return _existing(os.path.join(_PACKAGE, "lib", "pkgconfig"))


def cflags() -> list:
    """Compiler flags for code that includes cnnnative.h."""
    return [f"-I{get_include()}"]


def libs() -> list:
    """Linker flags for libcnnnative.so, with an rpath so the program finds it at run time."""
    lib = get_library_dir()
    return [f"-L{lib}", "-lcnnnative", f"-Wl,-rpath,{lib}"]
