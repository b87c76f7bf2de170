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
        assert str(z["__format__"]) == "cnnnative-checkpoint" and int(z["__version__"]) == 2
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
    (lambda a: a.update(__version__=np.array(3)), ValueError, "format version 3"),
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


# -- all-or-nothing, bounded loading (issue 11, item 3) ------------------------------------
def trainer_for(seed):
    m, opt, sched = model_and_opt(seed)
    return cnnnative.Trainer(m, opt, scheduler=sched, seed=seed, quiet=True)


def full_state(t):
    return ([v.tobytes() for v in t.model.state_dict().values()],
            [{k: v for k, v in g.items() if k != "params"} for g in t.optimizer.param_groups],
            {k: v.tobytes() for k, v in t.optimizer.momentum_buffers.items()},
            t.optimizer.step_count, t.scheduler.last_epoch, t.epoch, t.seed, t.history)


def _edit_meta(path, edit):
    def mutate(arrays):
        meta = json.loads(str(arrays["meta"]))
        edit(meta)
        arrays["meta"] = np.array(json.dumps(meta))
    _rewrite(path, mutate)


def test_model_only_checkpoint_into_trainer_changes_nothing(tmp_path):
    m, _, _ = model_and_opt(1)
    io.save(tmp_path / "m.npz", m)
    t = trainer_for(2)
    before = full_state(t)
    with pytest.raises(ValueError, match="m.npz.*no optimizer state"):
        t.load(tmp_path / "m.npz")
    assert full_state(t) == before  # the old code had overwritten every weight


@pytest.mark.parametrize("field,edit,match", [
    ("rng", lambda meta: meta["rng_states"].update({"drop": {"bit_generator": "PCG64", "state": "x"}}),
     r"rng_states\['drop'\]"),
    ("lr", lambda meta: meta["optimizer"]["param_groups"][0].update(lr=float("nan")), r"lr must be finite"),
    ("momentum", lambda meta: meta["optimizer"]["param_groups"][0].update(momentum="0.9"), r"momentum"),
    ("step_count", lambda meta: meta["optimizer"].update(step_count=-3), r"step_count"),
    ("last_epoch", lambda meta: meta["scheduler"].update(last_epoch=-1), r"meta.scheduler.*last_epoch"),
    ("epoch", lambda meta: meta["extra"].update(epoch="two"), r"meta.extra.epoch"),
    ("history", lambda meta: meta["extra"].update(history=5), r"meta.extra.history"),
    ("extra", lambda meta: meta.update(extra=[1]), r"meta.extra"),
    ("deep", lambda meta: meta["extra"].update(deep=json.loads("[" * 900 + "]" * 900)), r"nested 90\d deep"),
])
def test_damaged_state_fields_are_rejected_before_any_write(tmp_path, field, edit, match):
    t = trainer_for(1)
    t.model.add_module("drop", nn.Dropout(0.1, seed=3))
    t.save(tmp_path / "ck.npz")
    _edit_meta(tmp_path / "ck.npz", edit)
    t2 = trainer_for(2)
    t2.model.add_module("drop", nn.Dropout(0.1, seed=4))
    before = full_state(t2), t2.model.drop._rng.bit_generator.state
    with pytest.raises(ValueError, match=match) as info:
        t2.load(tmp_path / "ck.npz")
    assert "ck.npz" in str(info.value)
    assert (full_state(t2), t2.model.drop._rng.bit_generator.state) == before


def test_deeply_nested_metadata_is_a_value_error_not_recursion(tmp_path):
    m, _, _ = model_and_opt(1)
    io.save(tmp_path / "ck.npz", m)
    _rewrite(tmp_path / "ck.npz", lambda a: a.update(meta=np.array("[" * 100000 + "]" * 100000)))
    with pytest.raises(ValueError, match="nested 100000 deep"):
        io.load(tmp_path / "ck.npz")


def test_deflate_bomb_is_rejected_from_its_declared_size(tmp_path):
    import tracemalloc
    import zipfile
    import zlib
    m, _, _ = model_and_opt(1)
    io.save(tmp_path / "ok.npz", m)
    with zipfile.ZipFile(tmp_path / "ok.npz") as z:
        items = [(i.filename, z.read(i)) for i in z.infolist() if i.filename != "model/0.weight.npy"]
    header = __import__("io").BytesIO()
    size = 256 << 20
    np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False, "shape": (size // 4,)})
    with zipfile.ZipFile(tmp_path / "bomb.npz", "w") as z:
        for n, payload in items:
            z.writestr(n, payload)
        with z.open(zipfile.ZipInfo("model/0.weight.npy", (1980, 1, 1, 0, 0, 0)), "w") as f:
            f._compressor = zlib.compressobj(1, zlib.DEFLATED, -15)
            f._zinfo.compress_type = zipfile.ZIP_DEFLATED
            f.write(header.getvalue())
            zeros = bytes(16 << 20)
            for _ in range(size // len(zeros)):
                f.write(zeros)
    assert (tmp_path / "bomb.npz").stat().st_size < 2 << 20
    m2, _, _ = model_and_opt(2)
    before = m2.state_dict()
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=r"bomb.npz: '0.weight' is float32\[67108864\]"):
            io.load(tmp_path / "bomb.npz", m2)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20  # the old code decompressed all 256 MiB first
    for k, v in before.items():
        np.testing.assert_array_equal(m2.state_dict()[k], v)


def test_npy_header_must_match_the_declared_member_size(tmp_path):
    """An .npy header whose shape disagrees with the size the zip declares."""
    m, _, _ = model_and_opt(1)
    path = tmp_path / "ck.npz"
    io.save(path, m)
    import zipfile
    with zipfile.ZipFile(path) as z:
        items = [(i.filename, z.read(i)) for i in z.infolist()]
    # The 0.bias header claims 33 elements; the member (and the zip's size for it) holds 32.
    items = [(n, p.replace(b"'shape': (32,)", b"'shape': (33,)") if n == "model/0.bias.npy" else p)
             for n, p in items]
    with zipfile.ZipFile(path, "w") as z:
        for n, p in items:
            z.writestr(n, p)
    with pytest.raises(ValueError, match=r"ck.npz: model/0.bias: .*needs 260 bytes.*declares 256"):
        io.load(path)


def test_checkpoint_written_by_format_1_code_still_loads():
    """tests/data/checkpoint_v1.npz was written by the previous implementation (Trainer.save
    after 2 epochs of a Conv-BN-Dropout-Linear net, SGD momentum 0.9, StepLR gamma 0.5)."""
    path = os.path.join(os.path.dirname(__file__), "data", "checkpoint_v1.npz")
    nn.init.manual_seed(0)
    m = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(),
                      nn.Dropout(0.25, seed=1), nn.Linear(4 * 6 * 6, 10))
    opt = optim.SGD(m, lr=0.1, momentum=0.9, weight_decay=1e-4)
    sched = optim.StepLR(opt, step_size=1, gamma=0.5)
    t = cnnnative.Trainer(m, opt, scheduler=sched, quiet=True)
    t.load(path)
    assert (t.epoch, t.seed, opt.step_count, sched.last_epoch) == (2, 11, 4, 2)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.025)
    assert m[4]._rng.bit_generator.state["state"]["state"] == 105654590169398913713099924159419625588
    with np.load(path, allow_pickle=False) as z:  # numpy's own reader as the reference
        for k, v in m.state_dict().items():
            np.testing.assert_array_equal(v, z["model/" + k])
        for i, buf in opt.momentum_buffers.items():
            np.testing.assert_array_equal(buf, z[f"optim/momentum/{i}"])


def test_checkpoint_mode_follows_umask_and_existing_file(tmp_path):
    m, _, _ = model_and_opt(1)
    old = os.umask(0o022)
    try:
        io.save(tmp_path / "a.npz", m)
        assert (tmp_path / "a.npz").stat().st_mode & 0o777 == 0o644  # was 0600
        os.chmod(tmp_path / "a.npz", 0o640)
        io.save(tmp_path / "a.npz", m)
        assert (tmp_path / "a.npz").stat().st_mode & 0o777 == 0o640
        os.umask(0o077)
        io.save(tmp_path / "b.npz", m)
        assert (tmp_path / "b.npz").stat().st_mode & 0o777 == 0o600
    finally:
        os.umask(old)


def test_save_removes_temp_files_of_killed_saves(tmp_path):
    m, _, _ = model_and_opt(1)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    left_by_dead_writer = tmp_path / f".ck.npz.{dead}.abcd1234.tmp"
    old_no_pid = tmp_path / ".ck.npz.k2j4h5.tmp"       # mkstemp name of the previous code
    fresh_live = tmp_path / f".ck.npz.{os.getppid()}.beef.tmp"  # someone still writing
    other_path = tmp_path / f".other.npz.{dead}.abcd.tmp"
    for p in (left_by_dead_writer, old_no_pid, fresh_live, other_path):
        p.write_bytes(b"partial")
    os.utime(old_no_pid, (0, 0))
    io.save(tmp_path / "ck.npz", m)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["ck.npz", fresh_live.name, other_path.name])


def test_next_save_removes_the_temp_file_of_a_killed_save(tmp_path):
    path = tmp_path / "ck.npz"
    script = textwrap.dedent(f"""
        import os, signal
        from cnnnative import io, models, nn
        nn.init.manual_seed(0)
        m = models.build("digits_net")
        io._before_rename = lambda tmp: os.kill(os.getpid(), signal.SIGKILL)
        io.save({str(path)!r}, m)
    """)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    proc = subprocess.run([sys.executable, "-c", script], env=env, timeout=120)
    assert proc.returncode == -signal.SIGKILL
    left = [p.name for p in tmp_path.iterdir()]
    assert len(left) == 1 and left[0].startswith(".ck.npz.") and left[0].endswith(".tmp")
    m, _, _ = model_and_opt(1)
    io.save(path, m)
    assert [p.name for p in tmp_path.iterdir()] == ["ck.npz"]
