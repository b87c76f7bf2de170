"""Checkpoints: round trip, resume equivalence, crash during save (exception and SIGKILL),
and corrupt or mismatched files."""
import json
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import cnnnative
from cnnnative import data, io, models, nn, ops, optim

TRAIN_OPS = ("conv2d", "max_pool2d", "relu", "linear", "cross_entropy", "sgd_step")
needs_training = pytest.mark.skipif(not all(callable(getattr(ops, n, None)) for n in TRAIN_OPS),
                                    reason="training ops not all merged yet")


def model_and_opt(seed=0):
    nn.init.manual_seed(seed)
    m = models.build("digits_net")
    opt = optim.SGD(m, lr=0.05, momentum=0.9, weight_decay=1e-4)
    sched = optim.StepLR(opt, step_size=1, gamma=0.7)
    return m, opt, sched


def test_round_trip_model_only(tmp_path):
    m, _, _ = model_and_opt(1)
    m.add_module("bn", nn.BatchNorm1d(3))
    m.bn.running_mean[:] = [1, 2, 3]
    m.bn.num_batches_tracked = np.array(5, np.int64)
    path = io.save(tmp_path / "m.npz", m)
    m2, _, _ = model_and_opt(2)
    m2.add_module("bn", nn.BatchNorm1d(3))
    ck = cnnnative.load(path, m2)
    for (k, a), (k2, b) in zip(m.state_dict().items(), m2.state_dict().items()):
        assert k == k2 and a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    assert ck["meta"]["model_spec"] == {"builder": "digits_net", "kwargs": {}}
    with np.load(path, allow_pickle=False) as z:  # documented layout
        assert str(z["__format__"]) == "cnnnative-checkpoint" and int(z["__version__"]) == 1
        assert "model/0.weight" in z.files and "model/bn.num_batches_tracked" in z.files


@needs_training
def test_resume_gives_the_same_result_as_not_stopping(tmp_path):
    small = data.load_digits("train").subset(np.arange(192))
    m, opt, sched = model_and_opt()
    straight = cnnnative.Trainer(m, opt, scheduler=sched, seed=5, quiet=True)
    straight.fit(small, epochs=4, batch_size=32)

    m1, opt1, sched1 = model_and_opt()
    first = cnnnative.Trainer(m1, opt1, scheduler=sched1, seed=5, quiet=True)
    first.fit(small, epochs=2, batch_size=32)
    first.save(tmp_path / "ck.npz")
    m2, opt2, sched2 = model_and_opt(seed=99)  # different initial weights: all must come from the file
    resumed = cnnnative.Trainer(m2, opt2, scheduler=sched2, seed=0, quiet=True)
    resumed.load(tmp_path / "ck.npz")
    assert resumed.epoch == 2 and opt2.step_count == opt1.step_count and sched2.last_epoch == 2
    assert opt2.param_groups[0]["lr"] == pytest.approx(0.05 * 0.7 ** 2)
    resumed.fit(small, epochs=2, batch_size=32)
    assert [h["loss"] for h in resumed.history] == [h["loss"] for h in straight.history]
    for a, b in zip(m.parameters(), m2.parameters()):
        np.testing.assert_array_equal(a.data, b.data)


def test_failure_during_save_keeps_the_old_checkpoint(tmp_path, monkeypatch):
    m, opt, _ = model_and_opt(1)
    path = tmp_path / "ck.npz"
    io.save(path, m)
    old = m.state_dict()
    for p in m.parameters():
        p.data[...] = 0

    def crash(tmp):
        raise KeyboardInterrupt("simulated crash after the temp file was written")

    monkeypatch.setattr(io, "_before_rename", crash)
    with pytest.raises(KeyboardInterrupt):
        io.save(path, m)
    assert os.listdir(tmp_path) == ["ck.npz"]  # temp file removed
    m2, _, _ = model_and_opt(2)
    io.load(path, m2)
    for k, v in old.items():
        np.testing.assert_array_equal(m2.state_dict()[k], v)


def test_sigkill_during_save_keeps_the_old_checkpoint(tmp_path):
    path = tmp_path / "ck.npz"
    script = textwrap.dedent(f"""
        import os, signal, numpy as np
        from cnnnative import io, models, nn
        nn.init.manual_seed(0)
        m = models.build("seed_mnist_net")
        io.save({str(path)!r}, m)
        for p in m.parameters():
            p.data[...] = 7
        io._before_rename = lambda tmp: os.kill(os.getpid(), signal.SIGKILL)
        io.save({str(path)!r}, m)
    """)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    proc = subprocess.run([sys.executable, "-c", script], env=env, timeout=120)
    assert proc.returncode == -signal.SIGKILL
    nn.init.manual_seed(0)
    ref = models.build("seed_mnist_net")
    m = models.build("seed_mnist_net")
    io.load(path, m)
    for a, b in zip(ref.parameters(), m.parameters()):
        np.testing.assert_array_equal(a.data, b.data)


def _rewrite(path, mutate):
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    mutate(arrays)
    with open(path, "wb") as f:
        np.savez(f, **arrays)


@pytest.mark.parametrize("mutate,err,match", [
    (lambda a: a.pop("__format__"), ValueError, "not a cnnnative checkpoint"),
    (lambda a: a.update(__version__=np.array(2)), ValueError, "format version 2"),
    (lambda a: a.update({"model/0.weight": np.zeros((32, 1, 3, 3), np.float64)}), ValueError,
     "0.weight.*float64"),
    (lambda a: a.update({"model/0.bias": np.zeros(31, np.float32)}), ValueError, r"0\.bias.*\[31\]"),
    (lambda a: a.pop("model/6.bias"), KeyError, "6.bias"),
    (lambda a: a.update({"model/extra.weight": np.zeros(1, np.float32)}), KeyError, "extra.weight"),
    (lambda a: a.update({"evil": np.zeros(1)}), ValueError, "unknown entries"),
    (lambda a: a.update(meta=np.array("{not json")), ValueError, "metadata"),
    (lambda a: a.update({"model/0.bias": np.array([object()] * 32, dtype=object)}), ValueError,
     "not a readable"),
])
def test_bad_checkpoints_are_rejected_before_loading(tmp_path, mutate, err, match):
    m, _, _ = model_and_opt(1)
    path = tmp_path / "ck.npz"
    io.save(path, m)
    _rewrite(path, mutate)
    m2, _, _ = model_and_opt(2)
    before = m2.state_dict()
    with pytest.raises(err, match=match):
        io.load(path, m2)
    for k, v in before.items():
        np.testing.assert_array_equal(m2.state_dict()[k], v)


def test_truncated_and_foreign_files(tmp_path):
    m, _, _ = model_and_opt(1)
    path = tmp_path / "ck.npz"
    io.save(path, m)
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ValueError, match="ck.npz"):
        io.load(path, m)
    path.write_bytes(b"hello")
    with pytest.raises(ValueError, match="ck.npz"):
        io.load(path)
    np.savez(tmp_path / "plain.npz", a=np.zeros(3))
    with pytest.raises(ValueError, match="not a cnnnative checkpoint"):
        io.load(tmp_path / "plain.npz")
    with pytest.raises(FileNotFoundError):
        io.load(tmp_path / "missing.npz")


def test_optimizer_state_mismatch(tmp_path):
    m, opt, sched = model_and_opt(1)
    io.save(tmp_path / "a.npz", m)
    with pytest.raises(ValueError, match="no optimizer state"):
        io.load(tmp_path / "a.npz", m, opt)
    io.save(tmp_path / "b.npz", m, opt, sched)
    other = optim.SGD([{"params": list(m.parameters())[:2]}, {"params": list(m.parameters())[2:]}], lr=0.1)
    with pytest.raises(ValueError, match="parameter groups"):
        io.load(tmp_path / "b.npz", m, other)
    with pytest.raises(ValueError, match="scheduler is StepLR"):
        io.load(tmp_path / "b.npz", m, opt, optim.CosineAnnealingLR(opt, 3))
    meta = json.loads(str(np.load(tmp_path / "b.npz")["meta"]))
    assert meta["optimizer"]["step_count"] == 0 and meta["scheduler"]["class"] == "StepLR"


@needs_training
def test_resume_with_dropout_draws_the_same_masks(tmp_path):
    def build():
        nn.init.manual_seed(0)
        m = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Dropout(0.3), nn.Linear(32, 10))
        return m, optim.SGD(m, lr=0.1, momentum=0.9)

    small = data.load_digits("train").subset(np.arange(128))
    m, opt = build()
    straight = cnnnative.Trainer(m, opt, seed=1, quiet=True)
    straight.fit(small, epochs=2, batch_size=32)
    m1, opt1 = build()
    first = cnnnative.Trainer(m1, opt1, seed=1, quiet=True)
    first.fit(small, epochs=1, batch_size=32)
    first.save(tmp_path / "d.npz")
    m2, opt2 = build()
    m2[3].reseed(12345)  # a different generator state: the checkpoint must restore it
    resumed = cnnnative.Trainer(m2, opt2, quiet=True)
    resumed.load(tmp_path / "d.npz")
    resumed.fit(small, epochs=1, batch_size=32)
    for a, b in zip(m.parameters(), m2.parameters()):
        np.testing.assert_array_equal(a.data, b.data)
