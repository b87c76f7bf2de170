import os
import subprocess
import sys

import pytest

import cnnnative
from cnnnative import _core


def test_info_fields():
    info = cnnnative.info()
    for key in ("version", "isa", "isas_available", "threads", "openmp", "cuda_built",
                "cuda_available", "compiler", "flags"):
        assert key in info
    assert info["isa"] in info["isas_available"]
    assert "scalar" in info["isas_available"]
    assert info["openmp"] is False  # no OpenMP runtime: the library's own thread team
    assert "-march=native" not in info["flags"]


def test_set_isa_rejects_unknown_and_unsupported():
    with pytest.raises(ValueError, match="unknown ISA"):
        cnnnative.set_isa("sse9")
    for name in ("scalar", "avx2", "avx512"):
        if name not in _core.available_isas():
            with pytest.raises(ValueError, match="does not support"):
                cnnnative.set_isa(name)


def test_env_isa_is_obeyed():
    code = "import cnnnative; print(cnnnative.get_isa())"
    out = subprocess.run([sys.executable, "-c", code], env={**os.environ, "CNNNATIVE_ISA": "scalar"},
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "scalar"


def test_env_isa_bad_value_is_a_clear_error():
    code = "import cnnnative"
    out = subprocess.run([sys.executable, "-c", code], env={**os.environ, "CNNNATIVE_ISA": "mmx"},
                         capture_output=True, text=True)
    assert out.returncode != 0
    assert "unknown ISA" in out.stderr


def test_threads_roundtrip_and_validation():
    before = cnnnative.get_num_threads()
    try:
        cnnnative.set_num_threads(1)
        assert cnnnative.get_num_threads() == 1
        with pytest.raises(ValueError):
            cnnnative.set_num_threads(0)
    finally:
        cnnnative.set_num_threads(before)


def test_omp_num_threads_respected():
    code = "import cnnnative; print(cnnnative.get_num_threads())"
    out = subprocess.run([sys.executable, "-c", code], env={**os.environ, "OMP_NUM_THREADS": "1"},
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "1"
