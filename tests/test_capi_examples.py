"""examples/c/classify.c and examples/cpp/classify.cpp, built as a user builds them (plain
`cc ... $(python -m cnnnative --cflags --libs)`, CMake's find_package, the static library),
run on an exported plan: their top-5 must be Python's for the same plan and image."""
from __future__ import annotations

import os
import shutil
import subprocess

import numpy as np
import pytest

import cnnnative
from capi_support import ROOT, compile_program, parse_top, require_c_api, require_compiler, run, small_net

CLASSES = 20


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    """A plan of batch 1, one image and Python's top 5 for it."""
    require_c_api()
    d = tmp_path_factory.mktemp("classify")
    cnnnative.export_plan(small_net(CLASSES, seed=3), str(d / "model.cnn"), (1, 3, 16, 16))
    x = np.random.default_rng(4).normal(size=(1, 3, 16, 16)).astype(np.float32)
    x.tofile(d / "image.raw")
    scores = np.asarray(cnnnative.load_plan(str(d / "model.cnn"))(x), dtype=np.float32)[0]
    order = sorted(range(CLASSES), key=lambda c: (-scores[c], c))[:5]
    return d, [(c, float(scores[c])) for c in order]


def check_top5(exe, case, threads=None):
    d, expected = case
    got = parse_top(run([exe, d / "model.cnn", d / "image.raw", *([threads] if threads else [])]))
    assert [c for c, _ in got] == [c for c, _ in expected]
    np.testing.assert_allclose([s for _, s in got], [s for _, s in expected], rtol=1e-5, atol=1e-5)


def test_c_example_with_flags(case, tmp_path):
    cc = require_compiler("c")
    exe = compile_program(cc, [os.path.join(ROOT, "examples", "c", "classify.c")], str(tmp_path / "classify"),
                          extra=("-std=c99", "-Wall", "-Wextra", "-Werror"))
    check_top5(exe, case)
    check_top5(exe, case, threads="2")


def test_cpp_example_with_flags(case, tmp_path):
    cxx = require_compiler("c++")
    exe = compile_program(cxx, [os.path.join(ROOT, "examples", "cpp", "classify.cpp")],
                          str(tmp_path / "classify"), extra=("-std=c++14", "-Wall", "-Wextra", "-Werror"))
    check_top5(exe, case)


def test_c_example_static(case, tmp_path):
    """libcnnnative.a (source installs, not wheels) with the runtimes cnnnative.pc lists."""
    lib = os.path.join(cnnnative.get_library_dir(), "libcnnnative.a")
    if not os.path.exists(lib):
        pytest.skip("no libcnnnative.a here (wheels ship the shared library only)")
    cc = require_compiler("c")
    pc = open(os.path.join(cnnnative.c_api.get_pkgconfig_dir(), "cnnnative.pc")).read()
    private = next(line.split(":", 1)[1].split() for line in pc.splitlines() if line.startswith("Libs.private:"))
    exe = compile_program(cc, [os.path.join(ROOT, "examples", "c", "classify.c")], str(tmp_path / "classify"),
                          link=[lib, *private])
    needed = subprocess.run(["readelf", "-d", exe], capture_output=True, text=True).stdout \
        if shutil.which("readelf") else ""
    assert "libcnnnative" not in needed
    check_top5(exe, case)


@pytest.mark.parametrize("lang", ["c", "cpp"])
def test_example_with_cmake(case, tmp_path, lang):
    if not shutil.which("cmake"):
        pytest.skip("no cmake")
    require_compiler("c" if lang == "c" else "c++")
    build = tmp_path / "build"
    gen = ["-G", "Ninja"] if shutil.which("ninja") else []
    subprocess.run(["cmake", "-S", os.path.join(ROOT, "examples", lang), "-B", str(build), *gen,
                    f"-Dcnnnative_DIR={cnnnative.get_cmake_dir()}"], check=True, capture_output=True)
    r = subprocess.run(["cmake", "--build", str(build)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    check_top5(str(build / "classify"), case)
