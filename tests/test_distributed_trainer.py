"""Trainer(distributed=...): equal to one process on the local communicator (in process),
and the CLI under mpiexec (only rank 0 prints and writes). The MPI equivalence and resume
tests are in test_distributed_trainer_equivalence.py. Exactness criteria:

- local communicator (size 1) vs no distribution: bitwise equal weights and history (the
  same permutation, batches and augmentation generator; averaging over one rank is exact).
- N ranks vs one process with the N-times batch (digits_net, no BatchNorm, 48 samples, 2
  epochs = 12 steps): the same samples per step; only the order of float additions in the
  gradient average differs, so weights agree within 2e-6 relative with SGD (measured
  ~3e-7) and 2e-5 with Adam (measured 7e-6: its step lr*m/sqrt(v) moves an element whose
  gradient is near zero by about lr whatever the gradient's size, so rounding shows more).
- resume: 2 epochs on 2 ranks (batch 4 each), checkpoint, 2 more on 1 rank with batch 8
  (the global batch kept) vs 4 epochs on 2 ranks uninterrupted: within 2e-6 relative,
  with --scale-lr and warm-up (the lr multiplier follows the global batch, restored from
  the checkpoint).
"""
import json
import os

import numpy as np
import pytest

from mpi_launch import mpirun, require_mpi

import cnnnative
from cnnnative import data, models, nn, optim
from cnnnative.distributed import LocalCommunicator
from cnnnative.distributed.faults import DistributedError
from cnnnative.train import Trainer


def _digits(n=40):
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (n, 1, 8, 8), dtype=np.uint8), rng.integers(0, 10, n)


def _fit(distributed, **kw):
    nn.init.manual_seed(0)
    model = models.build("digits_net")
    opt = optim.SGD(model, lr=0.1, momentum=0.9)
    t = Trainer(model, opt, scheduler=optim.CosineAnnealingLR(opt, 3), quiet=True, distributed=distributed, **kw)
    x, y = _digits()
    hist = t.fit((x, y), (x[:15], y[:15]), epochs=2, batch_size=6,
                 transform=data.augment.RandomHorizontalFlip())
    return t, [p.data.copy() for p in model.parameters()], hist


def test_local_communicator_equals_one_process():
    _, plain, h1 = _fit(None)
    t, dist, h2 = _fit(LocalCommunicator())
    for a, b in zip(plain, dist):
        np.testing.assert_array_equal(a, b)
    for r1, r2 in zip(h1, h2):
        assert {k: v for k, v in r1.items() if k not in ("seconds", "images_per_second")} == \
               {k: v for k, v in r2.items() if k not in ("seconds", "images_per_second")}
    x, y = _digits()
    assert t.evaluate((x, y)) == pytest.approx(Trainer(t.model, t.optimizer, quiet=True).evaluate((x, y)))


def test_local_checkpoint_round_trip(tmp_path):
    t, _, _ = _fit(LocalCommunicator(), scale_lr=True, warmup_epochs=1)
    path = t.save(tmp_path / "ck.npz")
    nn.init.manual_seed(5)
    m2 = models.build("digits_net")
    t2 = Trainer(m2, optim.SGD(m2, lr=0.1, momentum=0.9), scheduler=None, quiet=True,
                 distributed=LocalCommunicator(), scale_lr=True)
    t2.scheduler = optim.CosineAnnealingLR(t2.optimizer, 3)
    t2.load(path)
    assert t2.epoch == 2 and t2.dist.base_batch_size == 6
    for a, b in zip(t.model.parameters(), m2.parameters()):
        np.testing.assert_array_equal(a.data, b.data)


def test_sync_batchnorm_on_one_rank_equals_batchnorm():
    """DistributedConfig(sync_batchnorm=True): the BatchNorms become SyncBatchNorm (sharing
    the parameters the optimizer holds); on one rank training is unchanged."""
    from cnnnative.distributed import SyncBatchNorm
    from cnnnative.distributed.trainer_support import DistributedConfig
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((12, 3, 8, 8)).astype(np.float32), rng.integers(0, 4, 12)

    def fit(dist):
        nn.init.manual_seed(0)
        model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(),
                              nn.Linear(256, 4))
        t = Trainer(model, optim.SGD(model, lr=0.1, momentum=0.9), quiet=True, distributed=dist)
        t.fit((x, y), epochs=2, batch_size=4)
        return t
    plain = fit(None)
    synced = fit(DistributedConfig(LocalCommunicator(), sync_batchnorm=True))
    assert isinstance(synced.model[1], SyncBatchNorm)
    for a, b in zip(plain.model.state_dict().values(), synced.model.state_dict().values()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_options_need_distributed_and_bad_values():
    m = models.build("digits_net")
    with pytest.raises(ValueError, match="need distributed"):
        Trainer(m, optim.SGD(m, lr=0.1), scale_lr=True)
    with pytest.raises(TypeError, match="distributed must be"):
        Trainer(m, optim.SGD(m, lr=0.1), distributed="yes")


def test_load_failure_is_collective(tmp_path):
    m = models.build("digits_net")
    t = Trainer(m, optim.SGD(m, lr=0.1), quiet=True, distributed=LocalCommunicator())
    with pytest.raises(DistributedError, match="reading checkpoint"):
        t.load(tmp_path / "missing.npz")


def test_cli_two_ranks_only_rank0_prints_and_writes(tmp_path):
    require_mpi()
    out = tmp_path / "run"
    r = mpirun(2, ["-m", "cnnnative", "train", "--distributed", "--epochs", "1", "--limit", "64", "--batch-size",
                   "8", "--out", str(out), "--no-plots", "--json", "--scale-lr"], cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("{")]
    assert len(lines) == 1, r.stdout  # one JSON summary: rank 0's
    summary = json.loads(lines[0])
    assert summary["ranks"] == 2 and summary["batch_size"] == 8
    assert sorted(os.listdir(out)) == ["model.npz"]  # no temp files left, nothing from rank 1
    ck = cnnnative.io.load(out / "model.npz")
    assert ck["meta"]["extra"]["distributed"]["world_size"] == 2
    assert ck["meta"]["extra"]["global_batch_size"] == 16


def test_cli_flags_need_distributed(tmp_path):
    from cnnnative.cli import main
    with pytest.raises(SystemExit, match="need --distributed"):
        main(["train", "--scale-lr", "--out", str(tmp_path), "--epochs", "1"])


def test_cli_resume_keeps_the_global_batch(tmp_path, capsys):
    """--resume continues up to --epochs in all, with the checkpoint's global batch when
    --batch-size is not given (here one process: 2 ranks x 8 would resume as 1 x 16)."""
    from cnnnative.cli import main
    common = ["train", "--limit", "48", "--no-plots", "--json", "--schedule", "none", "--threads", "1"]
    assert main(common + ["--epochs", "1", "--batch-size", "12", "--out", str(tmp_path / "a")]) == 0
    capsys.readouterr()
    assert main(common + ["--epochs", "2", "--resume", str(tmp_path / "a" / "model.npz"),
                          "--out", str(tmp_path / "b")]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["batch_size"] == 12 and summary["epochs"] == 2
    ck = cnnnative.io.load(tmp_path / "b" / "model.npz")
    assert ck["meta"]["extra"]["epoch"] == 2 and len(ck["meta"]["extra"]["history"]) == 2
    with pytest.raises(SystemExit, match="--resume: checkpoint .* not found"):
        main(common + ["--resume", str(tmp_path / "nothing.npz"), "--out", str(tmp_path / "c")])
