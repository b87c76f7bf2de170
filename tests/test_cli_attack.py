"""`cnnnative attack` end to end: train a checkpoint, attack test digits (FGSM, PGD,
targeted, L2), read the outputs back (adversarial.npy through `cnnnative predict`,
predictions.json, the printed table, the figure when matplotlib is installed), and the
one-line failures."""
import json
import os

import numpy as np
import pytest

from cnnnative import cli, data


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    d = tmp_path_factory.mktemp("attack")
    assert cli.main(["train", "--epochs", "3", "--out", str(d / "run"), "--quiet", "--no-plots", "--seed", "0"]) == 0
    test = data.load_digits("test")
    np.save(d / "imgs.npy", test.images[:12, 0])  # (N, 8, 8) uint8 0..16, scaled like training
    np.save(d / "labels.npy", test.labels[:12])
    return d, str(d / "run" / "model.npz")


def run(capsys, *argv):
    assert cli.main(["attack", *map(str, argv)]) == 0
    return capsys.readouterr().out


def test_fgsm_writes_images_predictions_and_table(setup, capsys):
    d, ck = setup
    out = run(capsys, ck, d / "imgs.npy", "--eps", 0.2, "--labels", d / "labels.npy", "--out", d / "fgsm")
    report = json.loads((d / "fgsm" / "predictions.json").read_text())
    x_adv = np.load(d / "fgsm" / "adversarial.npy")
    x = np.load(d / "imgs.npy")[:, None].astype(np.float32) / 16
    assert x_adv.shape == (12, 1, 8, 8) and x_adv.dtype == np.float32
    assert np.abs(x_adv - x).max() <= 0.2 + 1e-6 and x_adv.min() >= 0 and x_adv.max() <= 1
    assert report["attack"] == "fgsm" and report["images"] == 12 and len(report["after"]["classes"]) == 12
    labels = np.load(d / "labels.npy")
    assert np.mean(np.array(report["before"]["classes"]) == labels) > 0.9
    assert report["success_rate"] == np.mean(np.array(report["after"]["classes"]) != labels) >= 0.5
    assert max(report["linf"]) <= 0.2 + 1e-6
    lines = out.strip().splitlines()
    assert lines[0].split() == ["image", "before", "after", "L-inf", "L2"] and len(lines) == 14
    assert "changed class" in lines[-1]
    # The written images go back through predict unchanged (float images: already scaled).
    assert cli.main(["predict", ck, str(d / "fgsm" / "adversarial.npy"), "--json"]) == 0
    pred = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert pred["predictions"] == report["after"]["classes"]


def test_targeted_pgd_and_l2(setup, capsys):
    d, ck = setup
    run(capsys, ck, d / "imgs.npy", "--eps", 0.3, "--steps", 10, "--target", 3, "--out", d / "pgd", "--json")
    capsys.readouterr()
    report = json.loads((d / "pgd" / "predictions.json").read_text())
    assert report["attack"] == "pgd" and report["target"] == 3
    assert report["success_rate"] >= 0.75 and np.mean(np.array(report["after"]["classes"]) == 3) >= 0.75
    out = run(capsys, ck, d / "imgs.npy", "--eps", 1.5, "--norm", 2, "--steps", 5, "--out", d / "l2", "--json")
    report = json.loads(out)
    assert report["norm"] == "2" and max(report["l2"]) <= 1.5 * (1 + 1e-5)


def test_figure(setup, capsys):
    pytest.importorskip("matplotlib")
    d, ck = setup
    run(capsys, ck, d / "imgs.npy", "--eps", 0.2, "--figure", "--index", 2, "--out", d / "fig")
    path = d / "fig" / "figure.png"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and os.path.getsize(path) > 5000
    assert json.loads((d / "fig" / "predictions.json").read_text())["figure"] == str(path)


@pytest.mark.parametrize("extra,needle", [
    (["--target", "10"], "--target 10 is not a class"),
    (["--figure", "--index", "99"], "--index 99 is out of range"),
    (["--labels", "imgs.npy"], "--labels must be an integer .npy of shape"),
])
def test_failures_are_one_line(setup, extra, needle):
    d, ck = setup
    extra = [str(d / e) if e.endswith(".npy") else e for e in extra]
    with pytest.raises(SystemExit, match=needle):
        cli.main(["attack", ck, str(d / "imgs.npy"), "--eps", "0.1", "--out", str(d / "bad"), *extra])


def test_checkpoint_and_argument_failures(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((1, 8, 8), np.uint8))
    with pytest.raises(SystemExit, match="cnnnative attack: checkpoint .*nope.npz not found"):
        cli.main(["attack", str(tmp_path / "nope.npz"), str(tmp_path / "x.npy"), "--eps", "0.1"])
    with pytest.raises(SystemExit, match="--eps"):
        cli.main(["attack", str(tmp_path / "nope.npz"), str(tmp_path / "x.npy")])
    with pytest.raises(SystemExit, match="must be zero or positive"):
        cli.main(["attack", str(tmp_path / "nope.npz"), str(tmp_path / "x.npy"), "--eps", "-1"])
