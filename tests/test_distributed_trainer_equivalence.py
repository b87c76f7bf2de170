"""Under mpiexec: N ranks x batch B equal one process with batch N*B (SGD, Adam), and resume
on another rank count. Exactness criteria: see tests/test_distributed_trainer.py."""
import sys

import numpy as np
import pytest

from mpi_launch import WORKER, mpirun, require_mpi, run


def _weights(path):
    z = np.load(path)
    return [z[k] for k in z.files if k.startswith("arr_")], z


def _assert_close(a, b, rtol=2e-6):
    for i, (p, q) in enumerate(zip(a, b)):
        rel = float(np.abs(p - q).max() / np.abs(q).max())
        assert rel <= rtol, f"parameter {i}: max difference {rel:.3g} of its largest value"


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_two_ranks_equal_one_process_with_twice_the_batch(tmp_path, optimizer):
    require_mpi()
    r = mpirun(2, [WORKER, "train", str(tmp_path / "two.npz"), "--batch-size", "4", "--optimizer", optimizer,
                   "--lr", "0.05" if optimizer == "sgd" else "0.002"])
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("worker done") == 1 and r.stdout.count("epoch 1:") == 1  # rank 0 alone prints
    r1 = run([sys.executable, WORKER, "train", str(tmp_path / "one.npz"), "--batch-size", "8", "--optimizer",
              optimizer, "--lr", "0.05" if optimizer == "sgd" else "0.002", "--no-distributed"])
    assert r1.returncode == 0, r1.stderr
    (two, z2), (one, z1) = _weights(tmp_path / "two.npz"), _weights(tmp_path / "one.npz")
    _assert_close(two, one, 2e-6 if optimizer == "sgd" else 2e-5)
    np.testing.assert_allclose(z2["history_loss"], z1["history_loss"], rtol=1e-6)
    np.testing.assert_array_equal(z2["val_accuracy"], z1["val_accuracy"])  # exact: sums reduced


def test_resume_on_another_rank_count(tmp_path):
    require_mpi()
    lr = ["--scale-lr", "--warmup-epochs", "1"]
    ck = str(tmp_path / "ck.npz")
    r = mpirun(2, [WORKER, "train", str(tmp_path / "a.npz"), "--epochs", "2", "--checkpoint", ck, *lr])
    assert r.returncode == 0, r.stderr
    r = run([sys.executable, WORKER, "train", str(tmp_path / "resumed.npz"), "--epochs", "2", "--batch-size", "8",
             "--resume", ck, *lr])  # one rank (a singleton MPI job), the global batch kept
    assert r.returncode == 0, r.stderr
    r = mpirun(2, [WORKER, "train", str(tmp_path / "straight.npz"), "--epochs", "4", *lr])
    assert r.returncode == 0, r.stderr
    (resumed, z1), (straight, z2) = _weights(tmp_path / "resumed.npz"), _weights(tmp_path / "straight.npz")
    _assert_close(resumed, straight)
    np.testing.assert_allclose(z1["history_loss"], z2["history_loss"], rtol=1e-6)
