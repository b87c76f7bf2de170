"""Trainer: a short run on the embedded digits reaches a stated accuracy, the same seed
gives the same result, step() lowers the loss, progress output and quiet mode."""
import numpy as np
import pytest

import cnnnative
from cnnnative import data, models, nn, ops, optim

pytestmark = pytest.mark.skipif(
    not all(callable(getattr(ops, n, None)) for n in (
        "conv2d", "max_pool2d", "max_pool2d_backward", "relu", "linear", "linear_backward",
        "cross_entropy", "cross_entropy_backward", "sgd_step")),
    reason="training ops not all merged yet")


def make(seed=0, lr=0.05, epochs=4, quiet=True, log=None):
    nn.init.manual_seed(seed)
    model = models.digits_net()
    opt = optim.SGD(model, lr=lr, momentum=0.9)
    sched = optim.CosineAnnealingLR(opt, T_max=epochs)
    return cnnnative.Trainer(model, opt, scheduler=sched, seed=seed, quiet=quiet, log=log)


def test_short_digits_run_reaches_95_percent():
    """digits_net, 3 epochs, batch 32, SGD lr 0.1 momentum 0.9, cosine: >= 95% on the
    364 test images (seeds 0-4 gave 96.7-98.1%; 95% leaves room for ISAs and threads)."""
    tr = make(lr=0.1, epochs=3)
    hist = tr.fit(data.load_digits("train"), data.load_digits("test"), epochs=3, batch_size=32)
    assert len(hist) == 3 and hist[-1]["loss"] < hist[0]["loss"]
    result = tr.evaluate(data.load_digits("test"))
    assert result["n"] == 364
    assert result["accuracy"] >= 0.95, hist
    assert hist[-1]["val_accuracy"] == pytest.approx(result["accuracy"])
    assert {"epoch", "loss", "accuracy", "seconds", "images_per_second", "lr"} <= set(hist[0])


def test_same_seed_same_result():
    small = data.load_digits("train").subset(np.arange(256))
    runs = []
    for _ in range(2):
        tr = make(seed=3, epochs=2)
        tr.fit(small, epochs=2, batch_size=32)
        runs.append((tr.history, [p.data.copy() for p in tr.model.parameters()]))
    assert [h["loss"] for h in runs[0][0]] == [h["loss"] for h in runs[1][0]]
    for a, b in zip(runs[0][1], runs[1][1]):
        np.testing.assert_array_equal(a, b)
    tr = make(seed=4, epochs=2)
    tr.fit(small, epochs=2, batch_size=32)
    assert [h["loss"] for h in tr.history] != [h["loss"] for h in runs[0][0]]


def test_step_lowers_the_loss_on_a_batch():
    x, y = next(data.load_digits("train").batches(64))
    tr = make(lr=0.1)
    losses = [tr.step(x, y) for _ in range(15)]
    assert isinstance(losses[0], float)
    assert losses[-1] < 0.6 * losses[0]  # memorising one batch: ~2.3 -> ~1.1
    assert all(p.grad is not None for p in tr.model.parameters())


def test_fit_accepts_arrays_and_reports(capsys):
    d = data.load_digits("test")
    x, y = d.arrays()
    lines = []
    tr = make(quiet=False, log=lines.append)
    tr.fit((x[:100], y[:100]), (x[100:200], y[100:200]), epochs=1, batch_size=25)
    assert len(lines) == 1 and "epoch 1" in lines[0] and "val" in lines[0] and "img/s" in lines[0]
    quiet = make(quiet=True, log=lines.append)
    quiet.fit((x[:50], y[:50]), epochs=1, batch_size=25)
    assert len(lines) == 1
    assert capsys.readouterr().out == ""
    logits = tr.predict(x[:7])
    assert logits.shape == (7, 10)
    with pytest.raises(ValueError, match="empty"):
        tr.fit((x[:0], y[:0]), epochs=1)
    with pytest.raises(ValueError, match="unknown loss 'hinge'"):  # "mse" is a loss now (test_train_losses.py)
        cnnnative.Trainer(tr.model, tr.optimizer, loss="hinge")
    with pytest.raises(TypeError, match="Dataset"):
        tr.fit(x, epochs=1)


def test_plain_progress_without_tqdm(monkeypatch):
    import io
    import sys

    class FakeTTY(io.StringIO):
        def isatty(self):
            return True

    err = FakeTTY()
    monkeypatch.setattr(sys, "stderr", err)
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)  # import fails -> plain fallback
    x, y = data.load_digits("test").arrays()
    tr = make(quiet=False, log=lambda msg: None)
    tr.fit((x[:64], y[:64]), epochs=1, batch_size=32)
    assert "epoch 1: 64/64" in err.getvalue() and "loss" in err.getvalue()


def test_bad_batches_raise_clear_errors_and_empty_batch_works():
    tr = make()
    x = np.zeros((4, 1, 8, 8), np.float32)
    with pytest.raises(ValueError, match="3 labels but input has 4 rows"):
        tr.step(x, np.array([0, 1, 2]))
    with pytest.raises(ValueError, match="not a class index"):
        tr.step(x, np.array([0, 1, 2, 10]))
    with pytest.raises(ValueError, match="Conv2d.*3 channels, expected 1"):
        tr.step(np.zeros((4, 3, 8, 8), np.float32), np.array([0, 1, 2, 3]))
    before = [p.data.copy() for p in tr.model.parameters()]
    tr.model.eval()
    assert tr.model.forward(np.zeros((0, 1, 8, 8), np.float32)).shape == (0, 10)
    assert np.isnan(tr.evaluate((np.zeros((0, 1, 8, 8), np.float32), np.zeros(0, np.int64)))["accuracy"])
    for a, p in zip(before, tr.model.parameters()):
        np.testing.assert_array_equal(a, p.data)
