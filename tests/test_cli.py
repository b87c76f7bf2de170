"""The cnnnative command: train (JSON summary, checkpoint, plots), predict, info, bench."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import cnnnative
from cnnnative import cli, data, ops

needs_training = pytest.mark.skipif(
    not all(callable(getattr(ops, n, None)) for n in (
        "conv2d", "max_pool2d", "relu", "linear", "cross_entropy", "sgd_step", "softmax")),
    reason="training ops not all merged yet")


@needs_training
def test_train_json_then_predict(tmp_path, capsys):
    out = tmp_path / "run"
    threads = cnnnative.get_num_threads()
    try:
        assert cli.main(["train", "--epochs", "2", "--out", str(out), "--json", "--seed", "1",
                         "--threads", "1"]) == 0
        assert cnnnative.get_num_threads() == 1
    finally:
        cnnnative.set_num_threads(threads)
    lines = capsys.readouterr().out.strip().splitlines()
    summary = json.loads(lines[-1])
    assert {"test_accuracy", "epochs", "seconds", "images_per_second"} <= set(summary)
    assert summary["epochs"] == 2 and summary["test_accuracy"] > 0.5
    assert os.path.exists(out / "model.npz")
    try:
        import matplotlib  # noqa: F401
        assert sorted(os.listdir(out)) == ["curves.png", "filters.png", "model.npz"]
    except ImportError:
        assert os.listdir(out) == ["model.npz"]

    test = data.load_digits("test")
    np.save(tmp_path / "imgs.npy", test.images[:20, 0])  # (N, 8, 8) uint8, scaled like training
    assert cli.main(["predict", str(out / "model.npz"), str(tmp_path / "imgs.npy"), "--json"]) == 0
    pred = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert len(pred["predictions"]) == 20
    assert np.mean(np.array(pred["predictions"]) == test.labels[:20]) > 0.5
    np.save(tmp_path / "bad.npy", np.zeros((2, 5, 5), np.float32))
    with pytest.raises(SystemExit, match="do not fit"):
        cli.main(["predict", str(out / "model.npz"), str(tmp_path / "bad.npy")])


def test_train_argument_errors(tmp_path):
    with pytest.raises(SystemExit, match="needs --data-dir"):
        cli.main(["train", "--dataset", "mnist", "--out", str(tmp_path)])
    with pytest.raises(SystemExit):
        cli.main(["train", "--model", "nope"])
    with pytest.raises(SystemExit, match="must be positive"):
        cli.main(["train", "--epochs", "0"])


def test_info_via_python_m():
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    proc = subprocess.run([sys.executable, "-m", "cnnnative", "info"], capture_output=True, text=True,
                          env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert "isa" in info and "version" in info


def test_bench_one_layer(capsys):
    assert cli.main(["bench", "--layers", "lenet5.c3", "--repeats", "2", "--no-torch"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert "lenet5.c3" in out[2]
    # --json: stdout is one JSON document (no table before it), so `| python -m json.tool` works.
    assert cli.main(["bench", "--layers", "lenet5.c3", "--repeats", "2", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows[0]["cnnnative_ms"] > 0
    with pytest.raises(SystemExit, match="unknown layers"):
        cli.main(["bench", "--layers", "nope"])
