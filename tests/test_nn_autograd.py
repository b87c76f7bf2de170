"""Layers and modules under autograd (issue 12, items 3 and 7): every layer's forward and
backward against torch.nn, input gradients included; a Module subclass with only forward
trains; parameter sharing and module reuse accumulate; containers and Module utilities;
eval-mode input gradients leave BatchNorm's statistics alone; autograd.grad leaves
parameter gradients alone; one step's graph is freed by the next; the deprecated
Module.backward shim; nn.functional's names."""
import gc
import warnings
import weakref

import numpy as np
import pytest

import cnnnative as cn
from cnnnative import models, nn, ops
from cnnnative.nn import functional as F
from cnnnative.ops._registry import RULES


def _rng():
    return np.random.default_rng(12)


# --- every layer against torch.nn ---------------------------------------------------------

def _layers():
    """(id, our layer, torch.nn expression, input shape, input generator)."""
    distinct = lambda rng, s: (rng.permutation(int(np.prod(s))).reshape(s) * 0.05 - 1).astype(np.float32)  # noqa: E731
    normal = lambda rng, s: rng.standard_normal(s).astype(np.float32)  # noqa: E731
    return [
        ("conv", lambda: nn.Conv2d(4, 6, 3, padding=1), "Conv2d(4, 6, 3, padding=1)", (2, 4, 7, 6), normal),
        ("conv_groups", lambda: nn.Conv2d(4, 6, 3, stride=2, dilation=2, groups=2, bias=False),
         "Conv2d(4, 6, 3, stride=2, dilation=2, groups=2, bias=False)", (2, 4, 9, 8), normal),
        ("linear", lambda: nn.Linear(7, 5), "Linear(7, 5)", (3, 7), normal),
        ("relu", lambda: nn.ReLU(), "ReLU()", (3, 5, 4), normal),
        ("relu_inplace", lambda: nn.ReLU(inplace=True), "ReLU()", (3, 5, 4), normal),
        ("relu6", lambda: nn.ReLU6(), "ReLU6()", (3, 5, 4), lambda rng, s: normal(rng, s) * 5),
        ("leaky", lambda: nn.LeakyReLU(0.2, inplace=True), "LeakyReLU(0.2)", (3, 5), normal),
        ("tanh", lambda: nn.Tanh(), "Tanh()", (3, 5), normal),
        ("sigmoid", lambda: nn.Sigmoid(), "Sigmoid()", (3, 5), normal),
        ("softmax", lambda: nn.Softmax(1), "Softmax(1)", (3, 5, 2), normal),
        ("log_softmax", lambda: nn.LogSoftmax(-1), "LogSoftmax(-1)", (3, 5), normal),
        ("max_pool", lambda: nn.MaxPool2d(3, 2, 1), "MaxPool2d(3, 2, 1)", (2, 3, 7, 5), distinct),
        ("max_pool_ceil", lambda: nn.MaxPool2d(2, ceil_mode=True), "MaxPool2d(2, ceil_mode=True)",
         (2, 3, 7, 5), distinct),
        ("avg_pool", lambda: nn.AvgPool2d(3, 2, 1, count_include_pad=False),
         "AvgPool2d(3, 2, 1, count_include_pad=False)", (2, 3, 7, 5), normal),
        ("adaptive_avg", lambda: nn.AdaptiveAvgPool2d(1), "AdaptiveAvgPool2d(1)", (2, 3, 5, 4), normal),
        ("global_avg", lambda: nn.GlobalAvgPool2d(), "AdaptiveAvgPool2d(1)", (2, 3, 5, 4), normal),
        ("flatten", lambda: nn.Flatten(), "Flatten()", (2, 3, 2, 2), normal),
        ("identity", lambda: nn.Identity(), "Identity()", (2, 3), normal),
        ("batch_norm2d", lambda: nn.BatchNorm2d(3), "BatchNorm2d(3)", (4, 3, 3, 2), normal),
        ("batch_norm1d", lambda: nn.BatchNorm1d(3), "BatchNorm1d(3)", (5, 3), normal),
        ("batch_norm1d_3d", lambda: nn.BatchNorm1d(3, affine=False), "BatchNorm1d(3, affine=False)",
         (4, 3, 6), normal),
        ("layer_norm", lambda: nn.LayerNorm((4, 3)), "LayerNorm((4, 3))", (3, 2, 4, 3), normal),
        ("group_norm", lambda: nn.GroupNorm(2, 6), "GroupNorm(2, 6)", (2, 6, 3, 3), normal),
        ("instance_norm", lambda: nn.InstanceNorm2d(3, affine=True, track_running_stats=True),
         "InstanceNorm2d(3, affine=True, track_running_stats=True)", (2, 3, 4, 3), normal),
        ("lrn", lambda: nn.LocalResponseNorm(3, alpha=0.5, beta=0.75, k=1.0),
         "LocalResponseNorm(3, alpha=0.5, beta=0.75, k=1.0)", (2, 5, 3, 3), normal),
        ("dropout_eval", lambda: nn.Dropout(0.5).eval(), "Dropout(0.5)", (3, 4), normal),
    ]


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("case", _layers(), ids=[c[0] for c in _layers()])
def test_layer_forward_and_backward_match_torch(case, training):
    torch = pytest.importorskip("torch")
    name, ours, theirs, shape, make = case
    rng = _rng()
    m = ours()
    t = eval("torch.nn." + theirs, {"torch": torch})
    params = {k: v.detach().numpy().copy() for k, v in t.state_dict().items()}
    for k, v in params.items():  # affine parameters off their defaults, so they matter
        if v.dtype == np.float32 and "running" not in k:
            v[...] = rng.uniform(0.5, 1.5, v.shape) if k.endswith("weight") and "norm" in name else v
    t.load_state_dict({k: torch.tensor(v) for k, v in params.items()})
    m.load_state_dict(params)
    if name == "dropout_eval":
        training = False
    m.train(training)
    t.train(training)
    x = make(rng, shape)
    g = rng.standard_normal(t(torch.tensor(x)).shape).astype(np.float32)
    t.load_state_dict({k: torch.tensor(v) for k, v in params.items()})  # undo the probe's stats
    xt = cn.Tensor(x.copy(), requires_grad=True)
    tx = torch.tensor(x, requires_grad=True)
    y = m(xt)
    ty = t(tx)
    assert isinstance(y, cn.Tensor) and y.requires_grad
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-4, atol=1e-5)
    y.backward(g)
    ty.backward(torch.tensor(g))
    ref = tx.grad.numpy()
    assert np.abs(ref).max() > 0
    np.testing.assert_allclose(xt.grad, ref, rtol=1e-3, atol=1e-4 * np.abs(ref).max())
    np.testing.assert_array_equal(xt.numpy(), x)  # the input itself is never overwritten
    tgrads = dict(t.named_parameters())
    for k, p in m.named_parameters():
        ref = tgrads[k].grad.numpy()
        np.testing.assert_allclose(p.grad, ref, rtol=1e-3, atol=1e-4 * max(np.abs(ref).max(), 1e-3),
                                   err_msg=k)
    tstate = t.state_dict()
    for k, v in m.state_dict().items():  # running statistics moved alike (or not at all)
        np.testing.assert_allclose(v, tstate[k].numpy(), rtol=1e-4, atol=1e-6, err_msg=k)


def test_dropout_in_training_masks_forward_and_gradient_alike():
    d = nn.Dropout(0.3, seed=5)
    x = cn.Tensor(np.ones((50, 40)), requires_grad=True)
    y = d(x)
    kept = y.numpy() != 0
    assert 0.6 < kept.mean() < 0.8
    y.backward(np.full((50, 40), 2.0, np.float32))
    np.testing.assert_allclose(x.grad, np.where(kept, 2.0 / np.float32(0.7), 0.0), rtol=1e-6)


# --- modules a user writes ------------------------------------------------------------------

class Net(nn.Module):
    """Only forward: layers, a functional call and a residual join."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.drop = nn.Dropout(0.1, seed=0)
        self.fc = nn.Linear(4 * 4 * 4, 3)

    def forward(self, x):
        h = F.relu(self.bn(self.conv(x)))
        h = F.max_pool2d(h, 2)
        return self.fc(self.drop(F.flatten(h, 1)))


def _blobs(rng, n=48):
    """Three classes of 8x8 images that differ by where a bright square sits."""
    y = rng.integers(0, 3, n)
    x = rng.standard_normal((n, 1, 8, 8)).astype(np.float32) * 0.3
    for i, c in enumerate(y):
        x[i, 0, 2 * c:2 * c + 3, 2 * c:2 * c + 3] += 2.0
    return x, y


def _cross_entropy(logits, y):
    """The loss as a recorded op when the losses area provides its rule, else the
    gradient of ops.cross_entropy handed to backward (the same numbers)."""
    if "cross_entropy" in RULES:
        return F.cross_entropy(logits, y)
    return None


def _backward_loss(logits, y):
    loss = _cross_entropy(logits, y)
    if loss is not None:
        loss.backward()
        return float(np.asarray(loss))
    logits.backward(ops.cross_entropy_backward(logits.numpy(), y))
    return float(ops.cross_entropy(logits.numpy(), y))


def test_module_with_only_forward_trains():
    nn.init.manual_seed(0)
    rng = _rng()
    net = Net()
    x, y = _blobs(rng)
    opt = cn.optim.SGD(net, lr=0.1, momentum=0.9)
    losses = []
    for _ in range(15):
        opt.zero_grad()
        losses.append(_backward_loss(net(x), y))
        assert all(p.grad is not None and np.abs(p.grad).max() > 0 for p in net.parameters())
        opt.step()
    assert losses[-1] < 0.5 * losses[0], losses
    net.eval()
    with cn.no_grad():
        acc = (np.asarray(net(x)).argmax(1) == y).mean()
    assert acc > 0.9


def test_module_with_only_forward_trains_with_the_trainer():
    nn.init.manual_seed(1)
    x, y = _blobs(_rng(), 64)
    net = Net()
    trainer = cn.Trainer(net, cn.optim.SGD(net, lr=0.1, momentum=0.9), quiet=True)
    first = trainer.step(x, y)
    for _ in range(10):
        last = trainer.step(x, y)
    assert last < 0.5 * first


def test_shared_linear_used_twice_accumulates_both_uses():
    torch = pytest.importorskip("torch")
    rng = _rng()
    lin = nn.Linear(4, 4)
    tlin = torch.nn.Linear(4, 4)
    tlin.load_state_dict({k: torch.tensor(v) for k, v in lin.state_dict().items()})
    x = rng.standard_normal((3, 4)).astype(np.float32)
    g = rng.standard_normal((3, 4)).astype(np.float32)
    xt, tx = cn.Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    y = lin(F.tanh(lin(xt)))
    ty = tlin(torch.tanh(tlin(tx)))
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-5, atol=1e-6)
    y.backward(g)
    ty.backward(torch.tensor(g))
    np.testing.assert_allclose(xt.grad, tx.grad.numpy(), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(lin.weight.grad, tlin.weight.grad.numpy(), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(lin.bias.grad, tlin.bias.grad.numpy(), rtol=1e-4, atol=1e-6)


def test_shared_parameter_between_two_modules_and_module_reuse():
    rng = _rng()
    a, b = nn.Linear(5, 5, bias=False), nn.Linear(5, 5, bias=False)
    b.weight = a.weight  # tied weights
    holder = nn.Sequential(a, b, a)  # module reuse: a runs twice
    assert len(list(holder.parameters())) == 1  # listed once
    w = a.weight.data.astype(np.float64)
    x = rng.standard_normal((2, 5)).astype(np.float32)
    g = rng.standard_normal((2, 5)).astype(np.float32)
    holder(x).backward(g)
    # y = x W^T W^T W^T: dW sums the three uses.
    x64, g64 = x.astype(np.float64), g.astype(np.float64)
    h1 = x64 @ w.T
    h2 = h1 @ w.T
    d2 = g64 @ w            # gradient at h2
    d1 = d2 @ w             # gradient at h1
    expected = g64.T @ h2 + d2.T @ h1 + d1.T @ x64
    np.testing.assert_allclose(a.weight.grad, expected, rtol=1e-4, atol=1e-5)


def test_module_list_module_dict_and_state_dict_names():
    torch = pytest.importorskip("torch")

    class Ours(nn.Module):
        def __init__(self):
            super().__init__()
            self.blocks = nn.ModuleList([nn.Linear(3, 3) for _ in range(2)])
            self.heads = nn.ModuleDict({"a": nn.Linear(3, 2), "b": nn.Linear(3, 1)})
            self.register_buffer("scale", np.ones(3, np.float32))
            self.register_buffer("scratch", np.zeros(3, np.float32), persistent=False)

        def forward(self, x):
            for blk in self.blocks:
                x = F.relu(blk(x))
            return self.heads["a"](x), self.heads["b"](x)

    class Theirs(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.blocks = torch.nn.ModuleList([torch.nn.Linear(3, 3) for _ in range(2)])
            self.heads = torch.nn.ModuleDict({"a": torch.nn.Linear(3, 2), "b": torch.nn.Linear(3, 1)})
            self.register_buffer("scale", torch.ones(3))
            self.register_buffer("scratch", torch.zeros(3), persistent=False)

    m, t = Ours(), Theirs()
    assert list(m.state_dict()) == list(t.state_dict())
    assert [n for n, _ in m.named_modules()] == [n for n, _ in t.named_modules()]
    assert len(m.blocks) == 2 and list(m.heads) == ["a", "b"] and "a" in m.heads
    assert len(list(m.parameters())) == 8 and len(list(m.parameters(recurse=False))) == 0
    assert [type(c).__name__ for c in m.children()] == ["ModuleList", "ModuleDict"]
    m.load_state_dict({k: v.numpy() for k, v in t.state_dict().items()})
    ya, yb = m(np.ones((2, 3), np.float32))
    cn.autograd.backward([ya, yb], [np.ones((2, 2), np.float32), np.ones((2, 1), np.float32)])
    assert all(p.grad is not None for p in m.parameters())
    m.blocks.append(nn.Linear(3, 3))
    del m.blocks[0]
    assert list(m.blocks._modules) == ["0", "1"]
    with pytest.raises(TypeError, match="Module"):
        m.blocks.append(3)
    with pytest.raises(IndexError):
        m.blocks[5]


def test_apply_and_zero_grad():
    m = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8, 2))
    seen = []
    assert m.apply(lambda mod: seen.append(type(mod).__name__)) is m
    assert seen == ["Conv2d", "ReLU", "Flatten", "Linear", "Sequential"]  # children first

    def init(mod):
        if isinstance(mod, nn.Linear):
            nn.init.zeros_(mod.bias.data)
    m[3].bias.data[...] = 1
    m.apply(init)
    assert not m[3].bias.data.any()
    x = np.ones((2, 1, 4, 4), np.float32)
    m(x).backward(np.ones((2, 2), np.float32))
    grads = [p.grad for p in m.parameters()]
    m.zero_grad(set_to_none=False)  # zeroed in place: the same arrays
    assert all(p.grad is g and not g.any() for p, g in zip(m.parameters(), grads))
    m(x).backward(np.ones((2, 2), np.float32))
    assert all(np.abs(p.grad).max() > 0 for p in m.parameters())
    m.zero_grad()
    assert all(p.grad is None for p in m.parameters())


# --- grad mode, eval mode and input gradients ------------------------------------------------

def _bn_dropout_model():
    nn.init.manual_seed(4)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(inplace=True),
                         nn.Dropout(0.5), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(4 * 4 * 4, 3),
                         nn.BatchNorm1d(3))


def test_eval_mode_input_gradient_leaves_running_statistics_untouched():
    rng = _rng()
    model = _bn_dropout_model()
    x, y = _blobs(rng, 6)
    model.train()
    for _ in range(2):  # running statistics away from their initial values
        model(x)
    model.eval()
    before = {k: v.copy() for k, v in model.state_dict().items()}
    img = cn.Tensor(x, requires_grad=True)
    _backward_loss(model(img), y)
    assert img.grad is not None and img.grad.shape == x.shape and np.abs(img.grad).max() > 0
    for k, v in model.state_dict().items():  # running_mean/var and num_batches_tracked too
        np.testing.assert_array_equal(v, before[k], err_msg=k)
    assert int(model[1].num_batches_tracked) == 2
    # Eval mode is deterministic (Dropout is the identity): the gradient is reproducible and
    # matches central differences of the loss in float64.
    img2 = cn.Tensor(x, requires_grad=True)
    _backward_loss(model(img2), y)
    np.testing.assert_array_equal(img2.grad, img.grad)

    def loss(z):
        with cn.no_grad():
            return float(ops.cross_entropy(np.asarray(model(z), np.float32), y))
    idx = np.unravel_index(np.argsort(np.abs(img.grad).ravel())[-5:], x.shape)
    for i in zip(*idx):
        xp, xm = x.copy(), x.copy()
        xp[i] += 1e-2
        xm[i] -= 1e-2
        num = (loss(xp) - loss(xm)) / 2e-2
        assert num == pytest.approx(float(img.grad[i]), rel=5e-2, abs=1e-3)


def test_eval_mode_input_gradient_matches_torch():
    torch = pytest.importorskip("torch")
    tn = torch.nn
    model = _bn_dropout_model()
    t = tn.Sequential(tn.Conv2d(1, 4, 3, padding=1), tn.BatchNorm2d(4), tn.ReLU(), tn.Dropout(0.5),
                      tn.MaxPool2d(2), tn.Flatten(), tn.Linear(64, 3), tn.BatchNorm1d(3))
    rng = _rng()
    sd = model.state_dict()
    for k in sd:
        if "running" in k:
            sd[k] = (rng.uniform(0.5, 1.5, sd[k].shape) if "var" in k else rng.standard_normal(sd[k].shape)
                     ).astype(np.float32)
    model.load_state_dict(sd)
    t.load_state_dict({k: torch.tensor(v) for k, v in sd.items()})
    model.eval()
    t.eval()
    x, y = _blobs(rng, 5)
    img, timg = cn.Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    _backward_loss(model(img), y)
    tn.functional.cross_entropy(t(timg), torch.tensor(y)).backward()
    ref = timg.grad.numpy()
    np.testing.assert_allclose(img.grad, ref, rtol=1e-3, atol=1e-4 * np.abs(ref).max())


def test_autograd_grad_gives_input_gradient_and_leaves_parameter_grads_alone():
    rng = _rng()
    model = _bn_dropout_model().eval()
    x = cn.Tensor(rng.standard_normal((2, 1, 8, 8)), requires_grad=True)
    out = model(x)
    g = rng.standard_normal(out.shape).astype(np.float32)
    calls = []
    import cnnnative.ops.conv as conv_area
    real = conv_area.conv2d_weight
    conv_area.conv2d_weight = lambda *a, **k: calls.append(1) or real(*a, **k)
    try:
        (gx,) = cn.autograd.grad(out, x, grad_outputs=g)
    finally:
        conv_area.conv2d_weight = real
    assert calls == []  # no weight gradient was computed
    assert all(p.grad is None for p in model.parameters()) and x.grad is None
    x2 = cn.Tensor(x.numpy(), requires_grad=True)
    model(x2).backward(g)
    np.testing.assert_allclose(gx, x2.grad, rtol=1e-6, atol=1e-7)
    assert np.abs(gx).max() > 0


def test_no_grad_and_frozen_models_record_nothing_and_return_arrays():
    model = models.seed_mnist_net()
    x = np.random.default_rng(0).random((2, 1, 28, 28), dtype=np.float32)
    with cn.no_grad():
        y = model(x)
    assert type(y) is np.ndarray
    model.requires_grad_(False)
    assert type(model(x)) is np.ndarray
    yt = model(cn.Tensor(x))
    assert isinstance(yt, cn.Tensor) and not yt.requires_grad and yt.grad_fn is None
    np.testing.assert_allclose(yt.numpy(), y, rtol=1e-6)


def test_frozen_prefix_costs_nothing_in_backward(monkeypatch):
    import cnnnative.ops.conv as conv_area
    import cnnnative.ops.norm as norm_area
    import cnnnative.ops.pool as pool_area
    calls = []
    for area, name in ((conv_area, "conv2d_weight"), (conv_area, "conv2d_input"),
                       (norm_area, "batch_norm_backward"), (pool_area, "max_pool2d_backward")):
        real = getattr(area, name)
        monkeypatch.setattr(area, name, lambda *a, _r=real, _n=name, **k: calls.append(_n) or _r(*a, **k))
    model = _bn_dropout_model()
    for m in list(model)[:5]:  # conv, bn, relu, dropout, pool frozen
        m.requires_grad_(False)
    out = model(np.ones((2, 1, 8, 8), np.float32))
    out.backward(np.ones(out.shape, np.float32))
    assert calls == ["batch_norm_backward"]  # the trainable BatchNorm1d at the end only
    assert model[0].weight.grad is None and model[6].weight.grad is not None


def test_one_step_does_not_keep_the_previous_steps_graph_alive():
    model = _bn_dropout_model()
    opt = cn.optim.SGD(model, lr=0.01)
    x, y = _blobs(_rng(), 4)
    refs = []
    for _ in range(3):
        out = model(x)
        refs.append((weakref.ref(out), weakref.ref(out.grad_fn)))
        opt.zero_grad()
        _backward_loss(out, y)
        opt.step()
        del out
        gc.collect()
        # this step's graph is gone as soon as its output is, and so is every earlier one
        assert all(r() is None and n() is None for r, n in refs)


def test_no_reference_cycle_keeps_a_graph_alive():
    gc.collect()
    gc.disable()
    try:
        model = _bn_dropout_model()
        out = model(np.ones((2, 1, 8, 8), np.float32))
        node = weakref.ref(out.grad_fn)
        del out  # reference counting alone frees it (no cycle through modules or closures)
        assert node() is None
    finally:
        gc.enable()


# --- float64 central differences on small layers -----------------------------------------------

@pytest.mark.parametrize("make", [
    lambda: nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.Tanh(), nn.AvgPool2d(2), nn.Flatten(),
                          nn.Linear(3 * 2 * 2, 2)),
    lambda: nn.Sequential(nn.Linear(5, 4), nn.LayerNorm(4), nn.Sigmoid(), nn.Linear(4, 3), nn.LogSoftmax(1)),
    lambda: nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.GroupNorm(2, 4), nn.Tanh(), nn.Flatten(),
                          nn.Linear(64, 3)),
], ids=["conv_tanh_avg_linear", "linear_layernorm_sigmoid", "conv_groupnorm_tanh_linear"])
def test_small_models_central_differences_in_float64(make):
    """Parameters and input perturbed in float64 steps around float32 values; the loss is
    summed in float64. Every gradient checked must be non-zero."""
    rng = np.random.default_rng(3)
    nn.init.manual_seed(3)
    m = make()
    shape = (2, 5) if isinstance(m[0], nn.Linear) else (2, 2, 4, 4)
    x = rng.standard_normal(shape).astype(np.float32)
    xt = cn.Tensor(x.copy(), requires_grad=True)
    out = m(xt)
    r = rng.standard_normal(out.shape)
    out.backward(r.astype(np.float32))

    def f():
        with cn.no_grad():
            return float(np.sum(np.asarray(m(x), dtype=np.float64) * r))
    checked = 0
    for name, arr, grad in [("input", x, xt.grad)] + [(n, p.data, p.grad) for n, p in m.named_parameters()]:
        assert grad is not None and np.abs(grad).max() > 0, name
        flat, gflat = arr.reshape(-1), grad.reshape(-1)
        for i in rng.choice(flat.size, size=min(6, flat.size), replace=False):
            old = flat[i]
            flat[i] = old + np.float32(1e-2)
            fp = f()
            flat[i] = old - np.float32(1e-2)
            fm = f()
            flat[i] = old
            num = (fp - fm) / 2e-2
            assert abs(num - gflat[i]) <= 2e-2 * np.abs(grad).max() + 1e-4, (name, i, num, gflat[i])
            checked += 1
    assert checked > 10


# --- the deprecated shim ----------------------------------------------------------------------

def test_deprecated_module_backward_shim():
    rng = _rng()
    nn.init.manual_seed(2)
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8, 2))
    x = rng.standard_normal((2, 1, 4, 4)).astype(np.float32)
    g = rng.standard_normal((2, 2)).astype(np.float32)
    y = model.forward(x)  # the pre-autograd idiom: forward, then backward(grad)
    with pytest.warns(DeprecationWarning, match="loss.backward"):
        assert model.backward(g) is None  # a numpy input has no gradient to return
    grads = [p.grad.copy() for p in model.parameters()]
    xt = cn.Tensor(x, requires_grad=True)
    y2 = model(xt)  # the shim runs from this, the module's last output
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        gx = model.backward(g)
    for p, before in zip(model.parameters(), grads):
        np.testing.assert_allclose(p.grad, 2 * before, rtol=1e-5)  # accumulated, as backward does
    xt3 = cn.Tensor(x, requires_grad=True)
    model(xt3).backward(g)
    np.testing.assert_allclose(gx, xt3.grad, rtol=1e-6)
    assert xt.grad is None  # the shim returns the input gradient instead
    del y, y2


# --- nn.functional ----------------------------------------------------------------------------

def test_functional_has_torch_names():
    for name in ("conv2d", "linear", "relu", "relu6", "leaky_relu", "sigmoid", "tanh", "softmax",
                 "log_softmax", "max_pool2d", "avg_pool2d", "adaptive_avg_pool2d", "batch_norm",
                 "layer_norm", "group_norm", "instance_norm", "local_response_norm", "dropout", "flatten"):
        assert callable(getattr(F, name)), name
    assert F.conv2d is ops.conv2d and F.relu is ops.relu
    assert callable(F.cross_entropy) and callable(F.nll_loss)  # the losses in ops
    with pytest.raises(AttributeError):
        F.no_such_function
    x = np.random.default_rng(0).standard_normal((2, 3, 4, 4)).astype(np.float32)
    np.testing.assert_allclose(F.adaptive_avg_pool2d(x, 1), x.mean(axis=(2, 3), keepdims=True), rtol=1e-6)
    np.testing.assert_allclose(F.adaptive_avg_pool2d(x, 2),  # any output size (tests/test_pool_more.py)
                               x.reshape(2, 3, 2, 2, 2, 2).mean(axis=(3, 5)), rtol=1e-6)
    xt = cn.Tensor(x, requires_grad=True)
    F.adaptive_avg_pool2d(xt, (1, 1)).backward(np.ones((2, 3, 1, 1), np.float32))
    np.testing.assert_allclose(xt.grad, np.full(x.shape, 1 / 16, np.float32))


# --- in place where nobody can see it ---------------------------------------------------------

def test_relu_backward_in_place_only_on_private_gradients(monkeypatch):
    """A gradient that reaches two consumers (add's fan-out) must not be overwritten by the
    first ReLU's in-place backward; a private one is."""
    from cnnnative import _core
    p = cn.Tensor(np.array([[-1.0, 2.0, 3.0]], np.float32), requires_grad=True)
    q = cn.Tensor(np.array([[1.0, -2.0, 3.0]], np.float32), requires_grad=True)
    a, b = ops.relu(ops.leaky_relu(p, 1.0)), ops.relu(ops.leaky_relu(q, 1.0))
    s = ops.add(a, b)  # backward hands the same gradient array to both relus
    seen = []
    real = _core.relu_backward
    monkeypatch.setattr(_core, "relu_backward", lambda g, y, out: seen.append(out is g) or real(g, y, out))
    s.backward(np.array([[5.0, 6.0, 7.0]], np.float32))
    # The first ReLU shares the array with the second; the second, by then its only
    # holder, may overwrite it.
    assert seen[0] is False
    np.testing.assert_array_equal(p.grad, [[0, 6, 7]])
    np.testing.assert_array_equal(q.grad, [[5, 0, 7]])
    # Arrays the walk itself still refers to count as shared: the seed (kept in its list).
    seen.clear()
    ops.relu(ops.leaky_relu(p, 1.0)).backward(np.ones((1, 3), np.float32))
    assert seen == [False]
    # The add hands one (fresh) array to tanh and to relu; the walk runs tanh first, after which
    # the relu's slot is the array's only holder: relu writes into it, and tanh's
    # gradient (computed before) is unaffected.
    seen.clear()
    a = ops.relu(ops.leaky_relu(p, 1.0))
    b = ops.tanh(ops.leaky_relu(q, 1.0))
    p.grad = q.grad = None
    ops.leaky_relu(ops.add(a, b), 1.0).backward(np.array([[5.0, 6.0, 7.0]], np.float32))
    assert seen == [True]
    np.testing.assert_array_equal(p.grad, [[0, 6, 7]])
    np.testing.assert_allclose(q.grad, np.array([[5, 6, 7]]) * (1 - np.tanh([[1.0, -2.0, 3.0]]) ** 2),
                               rtol=1e-4)
