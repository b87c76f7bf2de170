"""The C API (cpp/include/cnnnative/cnnnative.h) from a C program: tests/capi/capi_test.c
checks every error path, corrupt and truncated files, batches, buffers and 8 concurrent
sessions; here it is compiled against the installed library (tools/dev-build or the wheel)
and run on a plan exported by Python. Skips when there is no C compiler."""
from __future__ import annotations

import os
import shutil
import subprocess

import numpy as np
import pytest

import cnnnative
from capi_support import ROOT, compile_program, require_c_api, require_compiler, run, small_net


@pytest.fixture(scope="module", params=["fp32", "bf16", "int8"])
def plan(tmp_path_factory, request):
    """A small plan with planned batch 2 (float32; bf16: the C loader rounds its weights;
    int8: quantized), its input and Python's output for it."""
    require_c_api()
    d = tmp_path_factory.mktemp("capi")
    net = small_net()
    if request.param == "int8":
        calib = np.random.default_rng(2).normal(size=(8, 3, 16, 16)).astype(np.float32)
        cnnnative.export_plan(cnnnative.quantize(net, calib, input_shape=(2, 3, 16, 16), exportable=True),
                              str(d / "model.cnn"))
    else:
        cnnnative.export_plan(net, str(d / "model.cnn"), (2, 3, 16, 16), precision=request.param)
    x = np.random.default_rng(1).normal(size=(2, 3, 16, 16)).astype(np.float32)
    y = np.asarray(cnnnative.load_plan(str(d / "model.cnn"))(x), dtype=np.float32)
    x.tofile(d / "input.raw")
    y.tofile(d / "expected.raw")
    return d


def test_c_api_program(plan):
    cc = require_compiler("c")
    exe = compile_program(cc, [os.path.join(ROOT, "tests", "capi", "capi_test.c")], str(plan / "capi_test"),
                          extra=("-std=c99", "-Wall", "-Wextra", "-Werror", "-pthread"))
    out = run([exe, plan / "model.cnn", plan / "input.raw", plan / "expected.raw", plan])
    assert out.strip().endswith("0 failed"), out


def test_only_the_c_api_is_exported():
    """libcnnnative.so's dynamic symbol table: the cnn_* functions and nothing else."""
    require_c_api()
    if not shutil.which("nm"):
        pytest.skip("no nm")
    lib = os.path.join(cnnnative.get_library_dir(), "libcnnnative.so")
    out = subprocess.run(["nm", "-D", "--defined-only", lib], capture_output=True, text=True, check=True).stdout
    names = [line.split()[-1] for line in out.splitlines() if line.strip()]
    assert "cnn_run" in names and "cnn_model_load_file" in names
    assert [n for n in names if not n.startswith("cnn_")] == []


def test_header_is_plain_c99_and_cxx(tmp_path):
    """cnnnative.h compiles as strict C99 (and the wrapper as C++14) with every warning."""
    require_c_api()
    cc = require_compiler("c")
    src = tmp_path / "h.c"
    src.write_text("#include <cnnnative/cnnnative.h>\nint main(void) { return cnn_version() == 0; }\n")
    subprocess.run([cc, "-std=c99", "-pedantic", "-Wall", "-Wextra", "-Werror", "-fsyntax-only",
                    f"-I{cnnnative.get_include()}", str(src)], check=True)
    cxx = require_compiler("c++")
    src = tmp_path / "h.cpp"
    src.write_text("#include <cnnnative/cnnnative.hpp>\nint main() { return cnnnative::version().empty(); }\n")
    subprocess.run([cxx, "-std=c++14", "-pedantic", "-Wall", "-Wextra", "-Werror", "-fsyntax-only",
                    f"-I{cnnnative.get_include()}", str(src)], check=True)


def test_python_reports_where_the_c_api_is():
    require_c_api()
    inc, lib, cm = cnnnative.get_include(), cnnnative.get_library_dir(), cnnnative.get_cmake_dir()
    assert os.path.isfile(os.path.join(inc, "cnnnative", "cnnnative.h"))
    assert os.path.isfile(os.path.join(inc, "cnnnative", "cnnnative.hpp"))
    assert os.path.isfile(os.path.join(lib, "libcnnnative.so"))
    assert os.path.isfile(os.path.join(cm, "cnnnative-config.cmake"))
    import sys
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    out = subprocess.run([sys.executable, "-m", "cnnnative", "--cflags", "--libs"], capture_output=True,
                         text=True, check=True, env=env).stdout.split()
    assert out == [f"-I{inc}", f"-L{lib}", "-lcnnnative", f"-Wl,-rpath,{lib}"]


def test_c_api_version_matches_python(tmp_path):
    require_c_api()
    cc = require_compiler("c")
    src = tmp_path / "v.c"
    src.write_text('#include <stdio.h>\n#include <cnnnative/cnnnative.h>\n'
                   'int main(void) { puts(cnn_version()); return 0; }\n')
    exe = compile_program(cc, [str(src)], str(tmp_path / "v"))
    assert run([exe]).strip() == cnnnative.__version__
