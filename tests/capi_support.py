"""Helpers of the C API tests: find a compiler and the installed C API, export small plans,
compile and run C/C++ programs against libcnnnative."""
from __future__ import annotations

import os
import shutil
import subprocess

import numpy as np
import pytest

import cnnnative
from cnnnative import nn

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def require_compiler(lang: str = "c") -> str:
    """The C (or C++) compiler's command; skips the test when there is none."""
    names = ("cc", "gcc", "clang") if lang == "c" else ("c++", "g++", "clang++")
    env = os.environ.get("CC" if lang == "c" else "CXX")
    for name in ([env] if env else []) + list(names):
        if name and shutil.which(name):
            return name
    pytest.skip(f"no {lang.upper()} compiler ({', '.join(names)}) on PATH")


def require_c_api() -> None:
    """Skips when this cnnnative has no C API files or no plan export (a build without them)."""
    if not hasattr(cnnnative, "export_plan"):
        pytest.skip("cnnnative.export_plan is not available in this build")
    try:
        cnnnative.c_api.get_library_dir()
        cnnnative.c_api.get_include()
    except FileNotFoundError as e:
        pytest.skip(str(e))


def flags() -> tuple[list, list]:
    """Compile and link flags of `python -m cnnnative --cflags --libs`, as a C user gets them."""
    from cnnnative import c_api
    return c_api.cflags(), c_api.libs()


def compile_program(compiler: str, sources: list, out: str, extra: tuple = (), link: list | None = None) -> str:
    cflags, libs = flags()
    cmd = [compiler, *sources, "-o", out, *cflags, *extra, *(libs if link is None else link)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, f"{' '.join(cmd)}\n{r.stdout}\n{r.stderr}"
    return out


def run(cmd: list, timeout: float = 120, env: dict | None = None) -> str:
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout,
                       env={**os.environ, **(env or {})})
    assert r.returncode == 0, f"{' '.join(map(str, cmd))} exited {r.returncode}\n{r.stdout}\n{r.stderr}"
    return r.stdout


def small_net(classes: int = 10, seed: int = 0) -> nn.Module:
    """A small conv net (conv + BatchNorm + ReLU, max pool, global pool, linear) with
    non-trivial BatchNorm statistics, in eval mode."""
    from bn_stats import randomize_bn
    net = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, classes))
    randomize_bn(net, np.random.default_rng(seed))
    net.eval()
    return net


def parse_top(stdout: str) -> list:
    """'rank class score' lines -> [(class, score)]."""
    rows = []
    for line in stdout.strip().splitlines():
        rank, cls, score = line.split()
        rows.append((int(cls), float(score)))
    return rows
