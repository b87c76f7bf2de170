"""Faults in a 2-rank training job end it promptly, non-zero, naming the rank: a rank that
raises (excepthook -> MPI_Abort), a rank killed with SIGKILL (mpiexec notices), a rank
stopped with SIGSTOP (the collective watchdog aborts), ranks that disagree on a
hyper-parameter (detected at the start of fit, reported once). Rank 1 fails at its third
batch; each job must end within 30 s."""
import time

import pytest

from mpi_launch import WORKER, mpirun, require_mpi

LIMIT = 30.0


def _job(tmp_path, mode, *extra):
    require_mpi()
    t0 = time.monotonic()
    r = mpirun(2, [WORKER, mode, str(tmp_path / "w.npz"), *extra], timeout=LIMIT + 30)
    seconds = time.monotonic() - t0
    assert seconds < LIMIT, f"{mode}: the job took {seconds:.1f} s to end"
    assert r.returncode != 0, f"{mode}: the job ended with status 0: {r.stdout} {r.stderr}"
    assert not (tmp_path / "w.npz").exists()  # training did not finish anywhere
    return r


def test_a_rank_that_raises_aborts_the_job(tmp_path):
    r = _job(tmp_path, "fail-raise")
    assert "rank 1 failed: RuntimeError: injected failure on purpose" in r.stderr


def test_a_killed_rank_ends_the_job(tmp_path):
    r = _job(tmp_path, "fail-kill")
    assert "rank 1" in r.stderr and "signal 9" in r.stderr, r.stderr


def test_a_stopped_rank_is_caught_by_the_watchdog(tmp_path):
    from cnnnative.distributed.faults import WATCHDOG_EXIT
    r = _job(tmp_path, "fail-stop", "--timeout", "4")
    assert r.returncode == WATCHDOG_EXIT
    assert "rank 0 failed: a training step" in r.stderr and "did not finish within 4 s" in r.stderr


def test_different_hyper_parameters_are_refused_at_start(tmp_path):
    r = _job(tmp_path, "mismatch")
    assert r.returncode == 1
    assert r.stderr.count("the ranks train with different settings") == 1  # said once, by rank 0
    assert "lr: rank 0 has 0.05, rank 1 has 0.1" in r.stderr
    assert "epoch 1:" not in r.stdout


def test_cli_failure_on_one_rank_names_it(tmp_path):
    """--out unwritable on rank 0 (the only writer): the job ends naming rank 0."""
    require_mpi()
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    t0 = time.monotonic()
    r = mpirun(2, ["-m", "cnnnative", "train", "--distributed", "--epochs", "1", "--limit", "32",
                   "--out", str(blocker / "run")], timeout=LIMIT + 30)
    assert time.monotonic() - t0 < LIMIT
    assert r.returncode != 0
    assert "cnnnative train: rank 0 failed: cannot write to --out" in r.stderr, r.stderr


def test_checkpoint_survives_a_failed_save(tmp_path):
    """The last complete checkpoint survives: a save that fails on rank 0 (here: the
    target is a directory) leaves the earlier file whole and fails on every rank."""
    from cnnnative import models, optim
    from cnnnative.distributed import LocalCommunicator
    from cnnnative.distributed.faults import DistributedError
    from cnnnative.train import Trainer
    m = models.build("digits_net")
    t = Trainer(m, optim.SGD(m, lr=0.1), quiet=True, distributed=LocalCommunicator())
    good = t.save(tmp_path / "ck.npz")
    before = (tmp_path / "ck.npz").read_bytes()
    (tmp_path / "dir.npz").mkdir()
    with pytest.raises(DistributedError, match="saving checkpoint"):
        t.save(tmp_path / "dir.npz")
    assert (tmp_path / "ck.npz").read_bytes() == before and good.endswith("ck.npz")
