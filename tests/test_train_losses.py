"""Trainer with any loss: names, nn loss modules and callables; regression targets and
metrics (MSE/MAE) in fit, evaluate and the history; the loss name in checkpoints; the
fused cross-entropy fast path and the general route agree."""
import numpy as np
import pytest

import cnnnative as cn
from cnnnative import data, nn, ops, optim


def _regression_problem(rng, n=256, k=1):
    x = rng.uniform(-1, 1, (n, 4)).astype(np.float32)
    w = rng.standard_normal((4, k)).astype(np.float32)
    y = np.tanh(x @ w) + 0.5 * x[:, :1] ** 2
    return x, (y[:, 0] if k == 1 else y).astype(np.float32)


def _mlp(out=1, seed=0):
    cn.nn.init.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 32), nn.Tanh(), nn.Linear(32, out))


@pytest.mark.parametrize("loss", ["mse", "l1", "smooth_l1", "huber", "mse_loss"])
def test_regression_training_reduces_mse(rng, loss):
    x, y = _regression_problem(rng)
    model = _mlp()
    trainer = cn.Trainer(model, optim.SGD(model, lr=0.1, momentum=0.9), loss=loss, quiet=True)
    before = trainer.evaluate((x, y))
    history = trainer.fit((x, y), val=(x[:64], y[:64]), epochs=6, batch_size=32)
    after = trainer.evaluate((x, y))
    assert set(before) == {"loss", "mse", "mae", "n"} and before["n"] == 256
    assert after["mse"] < 0.3 * before["mse"] and after["mae"] < before["mae"]
    assert {"loss", "mse", "mae", "val_loss", "val_mse", "val_mae"} <= set(history[-1])
    assert "accuracy" not in history[-1]


def test_evaluate_mse_is_the_mean_squared_error(rng):
    x, y = _regression_problem(rng, n=100, k=3)
    model = _mlp(out=3)
    trainer = cn.Trainer(model, optim.SGD(model, lr=0.05), loss=nn.MSELoss(), quiet=True)
    r = trainer.evaluate((x, y), batch_size=32)
    pred = trainer.predict(x)
    assert r["mse"] == pytest.approx(float(np.mean((pred - y) ** 2)), rel=1e-5)
    assert r["mae"] == pytest.approx(float(np.mean(np.abs(pred - y))), rel=1e-5)
    assert r["loss"] == pytest.approx(r["mse"], rel=1e-5)  # loss = MSE, averaged per sample
    trainer.step(x[:16], y[:16])


def test_log_line_names_the_regression_metrics(rng):
    x, y = _regression_problem(rng, n=64)
    lines = []
    model = _mlp()
    cn.Trainer(model, optim.SGD(model, lr=0.05), loss="mse", log=lines.append).fit((x, y), (x, y), epochs=1)
    assert "mse" in lines[0] and "mae" in lines[0] and "val loss" in lines[0] and "acc" not in lines[0]


def test_pytorch_style_loop_and_trainer_agree(rng):
    """One Trainer.step equals loss_fn(model(x), y); zero_grad; backward; step by hand."""
    x, y = _regression_problem(rng, n=32)
    m1, m2 = _mlp(seed=3), _mlp(seed=3)
    o1, o2 = optim.SGD(m1, lr=0.1), optim.SGD(m2, lr=0.1)
    loss1 = cn.Trainer(m1, o1, loss="huber", quiet=True).step(x, y)
    # by hand: the PyTorch loop (the layers record; autograd derives their backward)
    out = m2(x)
    loss2 = ops.huber_loss(out, y.reshape(-1, 1))
    o2.zero_grad()
    loss2.backward()
    o2.step()
    assert loss1 == pytest.approx(float(loss2), rel=1e-6)
    for p1, p2 in zip(m1.parameters(), m2.parameters()):
        np.testing.assert_allclose(p1.data, p2.data, rtol=1e-6, atol=1e-7)


def _digits(n=128):
    x, y = data.load_digits("test").arrays()
    return x[:n], y[:n]


def _digits_net(seed=0):
    cn.nn.init.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 8 * 8, 10))


def test_fast_path_and_general_route_give_the_same_step():
    x, y = _digits(64)
    losses = []
    for loss in ("cross_entropy", lambda out, target: ops.cross_entropy(out, target)):
        model = _digits_net()
        trainer = cn.Trainer(model, optim.SGD(model, lr=0.1, momentum=0.9), loss=loss, quiet=True)
        losses.append([trainer.step(x, y) for _ in range(3)])
    np.testing.assert_allclose(losses[0], losses[1], rtol=1e-5)


@pytest.mark.parametrize("loss", [nn.CrossEntropyLoss(label_smoothing=0.1),
                                  nn.CrossEntropyLoss(weight=np.linspace(0.5, 1.5, 10)),
                                  "nll"])
def test_classification_losses_train_and_report_accuracy(loss):
    x, y = _digits(128)
    model = _digits_net()
    if loss == "nll":
        model.add_module("log_softmax", nn.LogSoftmax(dim=1))
    trainer = cn.Trainer(model, optim.SGD(model, lr=0.1, momentum=0.9), loss=loss, quiet=True)
    first = trainer.step(x[:64], y[:64])
    for _ in range(10):
        last = trainer.step(x[:64], y[:64])
    assert last < 0.7 * first
    r = trainer.evaluate((x, y))
    assert set(r) == {"loss", "accuracy", "n"} and 0 <= r["accuracy"] <= 1


def test_bce_with_logits_reports_binary_accuracy(rng):
    x = rng.standard_normal((128, 4)).astype(np.float32)
    y = (x[:, :2] > 0).astype(np.float32)  # two independent binary labels
    cn.nn.init.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 2))
    trainer = cn.Trainer(model, optim.SGD(model, lr=0.5, momentum=0.9),
                         loss=nn.BCEWithLogitsLoss(pos_weight=np.array([1.0, 2.0])), quiet=True)
    trainer.fit((x, y), epochs=8, batch_size=32)
    assert trainer.history[-1]["binary_accuracy"] > 0.9
    assert trainer.evaluate((x, y))["binary_accuracy"] > 0.9


def test_custom_callable_and_metrics_argument(rng):
    x, y = _regression_problem(rng, n=64)
    model = _mlp()

    def loss_fn(out, target):  # any function of ops that returns a scalar
        return ops.smooth_l1_loss(out, target, beta=0.5)

    trainer = cn.Trainer(model, optim.SGD(model, lr=0.05), loss=loss_fn, metrics=["mae"], quiet=True)
    h = trainer.fit((x, y.reshape(-1, 1)), epochs=2, batch_size=16)
    assert "mae" in h[-1] and "mse" not in h[-1]
    assert cn.Trainer(model, optim.SGD(model, lr=0.05), loss=loss_fn, quiet=True).evaluate((x, y))["n"] == 64


def test_bad_loss_and_metric_arguments():
    model = _mlp()
    opt = optim.SGD(model, lr=0.1)
    with pytest.raises(TypeError, match="loss must be a name"):
        cn.Trainer(model, opt, loss=3)
    with pytest.raises(ValueError, match="unknown loss 'hinge'"):
        cn.Trainer(model, opt, loss="hinge")
    with pytest.raises(ValueError, match="unknown metric 'r2'"):
        cn.Trainer(model, opt, loss="mse", metrics=["r2"])
    trainer = cn.Trainer(model, opt, loss=nn.MSELoss(reduction="none"), quiet=True)
    with pytest.raises(ValueError, match="the loss must be a scalar"):
        trainer.step(np.zeros((4, 4), np.float32), np.zeros(4, np.float32))
    with pytest.raises(ValueError, match="same first dimension"):
        trainer.fit((np.zeros((4, 4)), np.zeros(3)), epochs=1)


def test_every_loss_name_resolves():
    model = _mlp()
    for name in ("cross_entropy", "nll", "mse", "l1", "smooth_l1", "huber", "bce", "bce_with_logits", "kl_div",
                 "binary_cross_entropy_with_logits", "nll_loss", "huber_loss"):
        assert cn.Trainer(model, optim.SGD(model, lr=0.1), loss=name, quiet=True).loss_fn is not None


def test_checkpoint_stores_the_loss_name(tmp_path, rng):
    x, y = _regression_problem(rng, n=32)
    model = _mlp()
    trainer = cn.Trainer(model, optim.SGD(model, lr=0.05), loss="huber", quiet=True)
    trainer.fit((x, y), epochs=1, batch_size=16)
    path = trainer.save(tmp_path / "ck.npz")
    ck = cn.io.load(path)
    assert ck["meta"]["extra"]["loss"] == "huber_loss"
    model2 = _mlp(seed=1)
    resumed = cn.Trainer(model2, optim.SGD(model2, lr=0.05), loss="huber", quiet=True)
    resumed.load(path)
    assert resumed.epoch == 1 and resumed.history[0]["mse"] == trainer.history[0]["mse"]


class _Affine(nn.Module):
    """A model with only a forward, written with ops: it records, so loss.backward()
    fills its parameters' gradients (no hand-written backward)."""

    def __init__(self, features):
        super().__init__()
        self.weight = nn.Parameter(np.zeros((1, features), np.float32))
        self.bias = nn.Parameter(np.zeros(1, np.float32))

    def forward(self, x):
        return ops.linear(x, self.weight, self.bias)


def test_recording_model_trains_with_the_pytorch_loop(rng):
    x = rng.standard_normal((128, 4)).astype(np.float32)
    true_w = np.array([1.0, -2.0, 0.5, 3.0], np.float32)
    y = x @ true_w + 0.7
    # by hand: out = model(x); loss = loss_fn(out, y); opt.zero_grad(); loss.backward(); opt.step()
    model, loss_fn = _Affine(4), nn.MSELoss()
    opt = optim.SGD(model, lr=0.1)
    for _ in range(200):
        loss = loss_fn(model(x), y.reshape(-1, 1))
        opt.zero_grad()
        loss.backward()
        opt.step()
    np.testing.assert_allclose(model.weight.data[0], true_w, atol=1e-3)
    # and through Trainer, which takes the same route for a recording model
    model2 = _Affine(4)
    trainer = cn.Trainer(model2, optim.SGD(model2, lr=0.1), loss="mse", quiet=True)
    before = trainer.evaluate((x, y))["mse"]
    trainer.fit((x, y), epochs=5, batch_size=16)
    assert trainer.evaluate((x, y))["mse"] < 1e-3 * before


def test_accuracy_leaves_ignored_labels_out():
    from cnnnative.train_loss import resolve_metrics
    accuracy = resolve_metrics(None, "classification", None)["accuracy"]
    out = np.array([[2.0, 0.0], [0.0, 2.0], [2.0, 0.0]], np.float32)
    assert accuracy(out, np.array([0, 0, -100])) == (1, 2)
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.3, 0.7]], np.float32)
    assert accuracy(out, probs) == (2, 3)  # probability targets: argmax against argmax
