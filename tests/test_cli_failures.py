"""Every failure of the `cnnnative` command ends in one line, `cnnnative <command>: <what>`,
and a non-zero exit status; no traceback, no advice to weaken a safety setting."""
import functools
import gzip
import http.server
import io as pyio
import json
import os
import struct
import threading

import numpy as np
import pytest

import cnnnative
from cnnnative import cli, data, models
from cnnnative.train import Trainer


def fails(argv, *needles):
    """Run the CLI, expect the one-line failure of its command mentioning every needle."""
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    message = exc.value.code
    assert isinstance(message, str), f"exit {message!r} without a message"  # str: printed, status 1
    assert "\n" not in message, message
    assert message.startswith(f"cnnnative {argv[0]}: "), message
    for needle in needles:
        assert needle in message, message
    assert "allow_pickle" not in message and "Traceback" not in message
    return message


@pytest.fixture
def threads():
    n = cnnnative.get_num_threads()
    yield
    cnnnative.set_num_threads(n)


def test_version(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"cnnnative {cnnnative.__version__}"


@pytest.mark.parametrize("argv, needle", [
    (["train", "--lr", "-1"], "--lr: must be positive, got -1"),
    (["train", "--lr", "nan"], "--lr"),
    (["train", "--threads", "0"], "--threads: must be positive"),
    (["train", "--batch-size", "x"], "--batch-size: 'x' is not a whole number"),
    (["train", "--momentum", "-0.5"], "--momentum: must be zero or positive"),
    (["train", "--model", "nope"], "--model: invalid choice"),
    (["bench", "--threads", "0"], "--threads: must be positive"),
    (["bench", "--repeats", "0"], "--repeats: must be positive"),
    (["predict", "a.npz"], "the following arguments are required: images"),
])
def test_bad_arguments(argv, needle):
    fails(argv, needle)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    assert cli.main(["train", "--epochs", "2", "--out", str(out), "--quiet", "--no-plots"]) == 0
    return out / "model.npz"


def test_predict_missing_checkpoint(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((1, 8, 8), np.uint8))
    fails(["predict", str(tmp_path / "nope.npz"), str(tmp_path / "x.npy")], "nope.npz not found")


def test_predict_png_as_checkpoint(tmp_path):
    png = tmp_path / "digit.png"
    png.write_bytes(b"\\x89PNG\\r\\n\\x1a\\n" + bytes(100))
    np.save(tmp_path / "x.npy", np.zeros((1, 8, 8), np.uint8))
    fails(["predict", str(png), str(tmp_path / "x.npy")], "digit.png is not a cnnnative checkpoint")


def test_predict_damaged_checkpoint(tmp_path, checkpoint):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(checkpoint.read_bytes()[:2000])  # a zip with a cut-off body
    np.save(tmp_path / "x.npy", np.zeros((1, 8, 8), np.uint8))
    fails(["predict", str(bad), str(tmp_path / "x.npy")], "bad.npz")


def test_predict_missing_images(tmp_path, checkpoint):
    fails(["predict", str(checkpoint), str(tmp_path / "none.npy")], "none.npy")


def test_predict_scales_like_training_or_refuses(tmp_path, checkpoint, capsys):
    """The digits are 0..16: a 0..255 image was divided by 16 and silently mis-classified.
    Now values beyond the training range are refused, and --input-max scales them."""
    test = data.load_digits("test")
    images = test.images[:40, 0]
    np.save(tmp_path / "d16.npy", images)
    assert cli.main(["predict", str(checkpoint), str(tmp_path / "d16.npy"), "--json"]) == 0
    ref = json.loads(capsys.readouterr().out)["predictions"]
    assert np.mean(np.array(ref) == test.labels[:40]) > 0.8
    d255 = np.round(images.astype(np.float64) * 255 / 16).astype(np.uint8)
    np.save(tmp_path / "d255.npy", d255)
    fails(["predict", str(checkpoint), str(tmp_path / "d255.npy")], "--input-max", "0..16")
    assert cli.main(["predict", str(checkpoint), str(tmp_path / "d255.npy"), "--input-max", "255",
                     "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["predictions"] == ref
    # Float images are taken as already scaled to [0, 1], the same as training saw.
    np.save(tmp_path / "f.npy", images.astype(np.float32) / 16)
    assert cli.main(["predict", str(checkpoint), str(tmp_path / "f.npy"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["predictions"] == ref
    np.save(tmp_path / "f255.npy", d255.astype(np.float32))
    fails(["predict", str(checkpoint), str(tmp_path / "f255.npy")], "--input-max")


class _ClosedPipe(pyio.StringIO):
    def write(self, text):
        raise BrokenPipeError(32, "Broken pipe")


def test_predict_into_closed_pipe_is_quiet(tmp_path, checkpoint, monkeypatch, capsys):
    """`cnnnative predict ... | head`: head exits early; no traceback, the usual status."""
    np.save(tmp_path / "x.npy", data.load_digits("test").images[:50, 0])
    monkeypatch.setattr("sys.stdout", _ClosedPipe())
    assert cli.main(["predict", str(checkpoint), str(tmp_path / "x.npy")]) == 141
    assert capsys.readouterr().err == ""


def test_missing_dataset_files_say_download(tmp_path):
    fails(["train", "--dataset", "mnist", "--data-dir", str(tmp_path), "--out", str(tmp_path / "o")],
          "train-images-idx3-ubyte", "--download")
    fails(["train", "--dataset", "cifar10", "--data-dir", str(tmp_path), "--out", str(tmp_path / "o")],
          "data_batch_1.bin", "--download")


def _idx(array):
    codes = {np.dtype(np.uint8): 0x08}
    head = bytes([0, 0, codes[array.dtype], array.ndim]) + struct.pack(">" + "i" * array.ndim, *array.shape)
    return gzip.compress(head + array.tobytes())


@pytest.fixture
def http_dir(tmp_path):
    """A loopback HTTP server over a folder: (folder, base URL)."""
    root = tmp_path / "served"
    root.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def test_failed_download_names_the_url(tmp_path, http_dir, monkeypatch):
    _, url = http_dir
    monkeypatch.setenv("CNNNATIVE_MNIST_URL", url)
    message = fails(["train", "--dataset", "mnist", "--data-dir", str(tmp_path / "d"), "--download",
                     "--out", str(tmp_path / "o")], f"{url}train-images-idx3-ubyte.gz", "404")
    assert "Traceback" not in message
    assert not any(n.endswith(".part") for n in os.listdir(tmp_path / "d"))  # nothing half-written


def test_download_then_train(tmp_path, http_dir, monkeypatch, capsys):
    """The download path end to end against a loopback server holding a tiny MNIST."""
    root, url = http_dir
    rng = np.random.default_rng(0)
    for split, n in (("train", 64), ("t10k", 32)):
        labels = rng.integers(0, 10, n).astype(np.uint8)
        images = (rng.random((n, 28, 28)) * 60 + labels[:, None, None] * 19).astype(np.uint8)
        (root / f"{split}-images-idx3-ubyte.gz").write_bytes(_idx(images))
        (root / f"{split}-labels-idx1-ubyte.gz").write_bytes(_idx(labels))
    monkeypatch.setenv("CNNNATIVE_MNIST_URL", url)
    out = tmp_path / "o"
    assert cli.main(["train", "--dataset", "mnist", "--data-dir", str(tmp_path / "d"), "--download",
                     "--epochs", "1", "--batch-size", "16", "--out", str(out), "--no-plots", "--json"]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["dataset"] == "mnist"
    assert sorted(os.listdir(tmp_path / "d")) == sorted(p.name for p in root.iterdir())


def test_unwritable_out_fails_before_training(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    monkeypatch.setattr(Trainer, "fit", lambda *a, **k: pytest.fail("trained before checking --out"))
    fails(["train", "--out", str(blocker / "run")], f"cannot write to --out {blocker / 'run'}")


def test_divergence_stops_with_a_message(tmp_path):
    message = fails(["train", "--lr", "1e4", "--epochs", "3", "--limit", "256", "--schedule", "none",
                     "--out", str(tmp_path), "--quiet", "--no-plots"], "diverged", "lower the learning rate")
    assert "lr 10000" in message
    assert not os.path.exists(tmp_path / "model.npz")


def test_unexpected_errors_are_one_line_too(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise ZeroDivisionError("division by zero")
    monkeypatch.setattr(Trainer, "fit", broken)
    assert fails(["train", "--out", str(tmp_path)]) == "cnnnative train: ZeroDivisionError: division by zero"


_HEAVY = {"resnet18", "resnet34"}  # 11M / 21M parameters: a whole run is seconds of init and I/O
# The bigger ResNets (25M to 89M parameters): also build and one step only. (DenseNet needs
# 29x29 images: the CLI refuses the digits before building it.)
_HEAVY |= {"resnet50", "resnet101", "resnet152", "resnext50_32x4d", "resnext101_32x8d", "wide_resnet50_2"}


@pytest.mark.parametrize("name", sorted(models.MODELS))
def test_every_model_trains_from_the_cli(name, tmp_path, monkeypatch, capsys, threads):
    """--model resnet20 / resnet34 crashed: the CLI passed input_size to every builder."""
    if models.MIN_INPUT_SIZE.get(name, 1) > 8:
        # ImageNet-sized models cannot take the 8x8 digits: one clear line, before building
        # (they train on cifar10: tests/test_augment.py).
        fails(["train", "--model", name, "--out", str(tmp_path)], f"--model {name} needs images of at least",
              "digits has 8x8")
        return
    if name in _HEAVY:
        # Build, one real step, no full epoch and no checkpoint: the crash was in the build.
        def one_step(self, train, val=None, epochs=1, batch_size=32):
            x, y = next(train.batches(2))
            loss = self.step(x, y)
            return [{"epoch": 1, "loss": loss, "accuracy": 0.0, "seconds": 1.0}]
        monkeypatch.setattr(Trainer, "fit", one_step)
        monkeypatch.setattr(Trainer, "save", lambda self, path, extra=None: path)
    argv = ["train", "--model", name, "--epochs", "1", "--limit", "16", "--batch-size", "8",
            "--out", str(tmp_path), "--no-plots", "--json", "--threads", "1"]
    min_size = getattr(models.MODELS[name], "min_input_size", 1)
    if min_size > 8:  # the architecture cannot take the 8x8 digits (GoogLeNet, Inception-v3)
        fails(argv, f"--model {name} needs images of at least {min_size}x{min_size}", "digits has 8x8")
        return
    assert cli.main(argv) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["model"] == name
    if name not in _HEAVY:
        np.save(tmp_path / "x.npy", data.load_digits("test").images[:3, 0])
        assert cli.main(["predict", str(tmp_path / "model.npz"), str(tmp_path / "x.npy"), "--json"]) == 0
        assert len(json.loads(capsys.readouterr().out)["predictions"]) == 3


def test_bench_legend_and_one_json_document():
    row = {"layer": "l", "input": (1, 1, 4, 4), "weight": (1, 1, 3, 3), "cnnnative_ms": 1.0,
           "cnnnative_gflops": 1.0, "torch_ms": 2.0, "speedup_vs_torch": 2.0}
    from cnnnative import bench
    table = bench.format_table([row])
    assert "2.00x" in table and "above 1" in table and "faster" in table


def test_bench_interleaves_calls():
    from cnnnative import bench
    calls = []
    bench.time_interleaved([lambda: calls.append("a"), lambda: calls.append("b")], repeats=3, warmup=0)
    assert calls == ["a", "b"] * 3


def test_all_conv_net_learns_with_the_defaults(tmp_path, capsys, threads):
    """all_conv_net stayed at chance (10%) with the CLI's defaults: now He-initialised."""
    assert cli.main(["train", "--model", "all_conv_net", "--epochs", "2", "--limit", "512", "--out",
                     str(tmp_path), "--no-plots", "--json", "--threads", "1"]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["test_accuracy"] > 0.3
