"""cnnnative is typed (PEP 561: py.typed, _core.pyi): a small user program that builds a
module, trains it, compiles it and uses the model zoo (tests/data/typing_user_script.py)
passes `mypy --strict`, and runs. Skipped where mypy is not installed."""
import os
import pathlib
import subprocess
import sys
import sysconfig

import pytest

import cnnnative

SCRIPT = pathlib.Path(__file__).with_name("data") / "typing_user_script.py"


def test_user_script_runs():
    env = dict(os.environ, OMP_NUM_THREADS="1")
    package_root = str(pathlib.Path(cnnnative.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    out = subprocess.run([sys.executable, str(SCRIPT)], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "(4, 10) (1, 5)" in out.stdout


def test_user_script_passes_mypy_strict(tmp_path):
    pytest.importorskip("mypy", reason="mypy is not installed (pip install mypy)")
    env = dict(os.environ)
    package_root = pathlib.Path(cnnnative.__file__).resolve().parent.parent
    site = {pathlib.Path(sysconfig.get_paths()[k]).resolve() for k in ("purelib", "platlib")}
    if package_root not in site:
        # A source checkout (PYTHONPATH=python): mypy reads MYPYPATH, not PYTHONPATH. Installed,
        # it finds the package through py.typed, which this also checks.
        env["MYPYPATH"] = str(package_root)
    cmd = [sys.executable, "-m", "mypy", "--strict", "--follow-imports=silent", "--no-error-summary",
           "--cache-dir", str(tmp_path / "cache"), str(SCRIPT)]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert out.returncode == 0, f"mypy --strict found problems:\n{out.stdout}{out.stderr}"
