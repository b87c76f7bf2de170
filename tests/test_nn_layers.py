"""Layer API: gradients of every layer by central differences, PyTorch state_dict
compatibility, initialisation, freezing, strict loading, bad input.

The ops' own numerics are tested by their areas against float64 references; here the
point is the wiring: each layer calls the right op with the right arguments, so autograd
records it and accumulates parameter gradients, and names parameters as PyTorch does.
Gradients are taken the PyTorch way: x = Tensor(x, requires_grad=True); layer(x).backward(g).
"""
import math

import numpy as np
import pytest

import cnnnative as cn
from cnnnative import nn, ops


def needs(*names):
    missing = [n for n in names if not callable(getattr(ops, n, None))]
    return pytest.mark.skipif(bool(missing), reason=f"ops not merged yet: {missing}")


def _loss(module, x, r):
    # Scalar test function in float64: sum(forward(x) * r) for a fixed random r.
    with cn.no_grad():
        return float(np.sum(np.asarray(module(x), dtype=np.float64) * r))


def grad_check(module, x, rng, h=1e-2, samples=12, rtol=3e-2, check_input=True):
    """Compare backward with central differences on a random subset of entries.

    Kernels run in float32, so the step h is large (1e-2) and the tolerance relative to
    the largest gradient: the difference quotient's rounding error is ~1e-7*|f|/h, and its
    truncation error O(h^2) for smooth layers. Kinks (ReLU, max) are avoided by the input
    generators below. Returns (input gradient, {name: grad})."""
    module.train()
    x = np.ascontiguousarray(x, np.float32)
    xt = cn.Tensor(x, requires_grad=True)
    y = module(xt)
    r = rng.standard_normal(y.shape)
    module.zero_grad()
    y.backward(r.astype(np.float32))
    gx = xt.grad
    targets = [("input", x, gx)] if check_input else []
    targets += [(n, p.data, p.grad) for n, p in module.named_parameters() if p.requires_grad]
    grads = {}
    for name, arr, g in targets:
        assert g is not None, f"{name}: no gradient"
        assert g.shape == arr.shape, name
        assert np.all(np.isfinite(g)), name
        assert np.abs(g).max() > 0, f"{name}: gradient is all zeros (the check would be empty)"
        flat = arr.reshape(-1)
        idx = rng.choice(flat.size, size=min(samples, flat.size), replace=False)
        scale = np.abs(g).max()
        for i in idx:
            old = flat[i]
            flat[i] = old + h
            fp = _loss(module, x, r)
            flat[i] = old - h
            fm = _loss(module, x, r)
            flat[i] = old
            num = (fp - fm) / (2 * h)
            assert abs(num - g.reshape(-1)[i]) <= rtol * scale + 1e-3, \
                f"{type(module).__name__} {name}[{i}]: numeric {num}, backward {g.reshape(-1)[i]}"
        grads[name] = g
    return gx, grads


def away_from_zero(rng, shape, gap=0.1):
    """Random values with |x| >= gap, so +-h steps never cross ReLU's kink."""
    x = rng.uniform(gap, 1.0, size=shape) * rng.choice([-1, 1], size=shape)
    return x.astype(np.float32)


def distinct(rng, shape):
    """A random permutation of well-separated values: no ties for max-pooling."""
    n = int(np.prod(shape))
    return (rng.permutation(n).reshape(shape) * 0.1 - n * 0.05).astype(np.float32)


# --- gradients ----------------------------------------------------------------------------

@needs("conv2d", "conv2d_input", "conv2d_weight")
@pytest.mark.parametrize("kw", [dict(kernel_size=3, padding=1),
                                dict(kernel_size=(3, 2), stride=2, padding=(1, 0, 2, 1), bias=False),
                                dict(kernel_size=3, dilation=2, groups=2)])
def test_conv2d_gradients(rng, kw, isa):
    conv = nn.Conv2d(4, 6, **kw)
    gx, grads = grad_check(conv, rng.standard_normal((2, 4, 7, 6)), rng)
    assert ("bias" in grads) == kw.get("bias", True)


@needs("linear", "linear_backward")
def test_linear_gradients(rng):
    grad_check(nn.Linear(7, 5), rng.standard_normal((3, 7)), rng)
    grad_check(nn.Linear(7, 1, bias=False), rng.standard_normal((1, 7)), rng)


@needs("max_pool2d", "max_pool2d_backward")
@pytest.mark.parametrize("kw", [dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1),
                                dict(kernel_size=2, ceil_mode=True)])
def test_max_pool_gradients(rng, kw):
    grad_check(nn.MaxPool2d(**kw), distinct(rng, (2, 3, 7, 5)), rng)


@needs("avg_pool2d", "avg_pool2d_backward")
@pytest.mark.parametrize("kw", [dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1),
                                dict(kernel_size=3, stride=2, padding=1, count_include_pad=False)])
def test_avg_pool_gradients(rng, kw):
    grad_check(nn.AvgPool2d(**kw), rng.standard_normal((2, 3, 7, 5)), rng)


@needs("global_avg_pool2d", "global_avg_pool2d_backward")
def test_global_avg_pool_gradients(rng):
    gx, _ = grad_check(nn.GlobalAvgPool2d(), rng.standard_normal((2, 3, 5, 4)), rng)
    assert nn.GlobalAvgPool2d().output_shape((3, 5, 4)) == (3, 1, 1)


@needs("relu", "relu6", "leaky_relu", "tanh", "sigmoid", "softmax", "log_softmax")
@pytest.mark.parametrize("layer", [nn.ReLU, nn.ReLU6, lambda: nn.LeakyReLU(0.2), nn.Tanh, nn.Sigmoid,
                                   lambda: nn.Softmax(1), lambda: nn.LogSoftmax(-1)])
def test_activation_gradients(rng, layer):
    x = away_from_zero(rng, (3, 5)) * 4
    x[np.abs(x - 6) < 0.1] = 5.0  # keep off ReLU6's upper kink too
    grad_check(layer(), x, rng)


@needs("batch_norm_forward", "batch_norm_backward")
@pytest.mark.parametrize("shape,layer", [((4, 3, 3, 2), lambda: nn.BatchNorm2d(3)),
                                         ((5, 3), lambda: nn.BatchNorm1d(3)),
                                         ((4, 3, 6), lambda: nn.BatchNorm1d(3, affine=False))])
def test_batch_norm_gradients_and_running_stats(rng, shape, layer):
    bn = layer()
    x = rng.standard_normal(shape).astype(np.float32) * 2 + 1
    grad_check(bn, x, rng, check_input=True)
    # Running statistics follow PyTorch: momentum 0.1, unbiased variance, counter.
    bn2 = layer()
    bn2.train()
    bn2.forward(x)
    axes = (0,) + tuple(range(2, len(shape)))
    n = x.size // shape[1]
    mean = x.astype(np.float64).mean(axis=axes)
    var = x.astype(np.float64).var(axis=axes) * n / (n - 1)
    np.testing.assert_allclose(bn2.running_mean, 0.1 * mean, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(bn2.running_var, 0.9 + 0.1 * var, rtol=1e-4, atol=1e-5)
    assert int(bn2.num_batches_tracked) == 1
    # Eval mode uses the running statistics.
    bn2.eval()
    y = bn2.forward(x)
    ref = (x - bn2.running_mean.reshape((1, -1) + (1,) * (len(shape) - 2))) / np.sqrt(
        bn2.running_var.reshape((1, -1) + (1,) * (len(shape) - 2)) + 1e-5)
    np.testing.assert_allclose(y, ref, rtol=1e-4, atol=1e-4)


@needs("layer_norm_forward", "layer_norm_backward")
def test_layer_norm_gradients(rng):
    ln = nn.LayerNorm((4, 3))
    ln.weight.data[:] = rng.uniform(0.5, 1.5, ln.weight.shape)
    grad_check(ln, rng.standard_normal((3, 2, 4, 3)), rng)


@needs("group_norm_forward", "group_norm_backward")
def test_group_norm_gradients(rng):
    gn = nn.GroupNorm(2, 6)
    gn.weight.data[:] = rng.uniform(0.5, 1.5, 6)
    grad_check(gn, rng.standard_normal((2, 6, 3, 3)), rng)


@needs("instance_norm_forward", "instance_norm_backward")
def test_instance_norm_gradients(rng):
    grad_check(nn.InstanceNorm2d(3, affine=True), rng.standard_normal((2, 3, 4, 3)), rng)


@needs("local_response_norm", "local_response_norm_backward")
def test_local_response_norm_gradients(rng):
    grad_check(nn.LocalResponseNorm(3, alpha=0.5, beta=0.75, k=1.0), rng.standard_normal((2, 5, 3, 3)), rng)


@needs("dropout", "dropout_backward")
def test_dropout_train_and_eval(rng):
    d = nn.Dropout(0.25, seed=3)
    x = np.ones((64, 100), np.float32)
    xt = cn.Tensor(x, requires_grad=True)
    yt = d(xt)
    y = yt.numpy()
    kept = y != 0
    assert 0.7 < kept.mean() < 0.8
    np.testing.assert_allclose(y[kept], 1 / 0.75, rtol=1e-6)
    yt.backward(np.ones_like(x))
    g = xt.grad
    np.testing.assert_array_equal(g != 0, kept)  # gradient flows exactly where units were kept
    d.eval()
    np.testing.assert_array_equal(d.forward(x), x)
    d2 = nn.Dropout(0.25, seed=3)
    np.testing.assert_array_equal(d2.forward(x), y)  # same seed, same mask


def test_flatten_and_identity(rng):
    x = rng.standard_normal((2, 3, 4, 5)).astype(np.float32)
    f = nn.Flatten()
    y = f.forward(x)
    assert y.shape == (2, 60) and f.output_shape((3, 4, 5)) == (60,)
    xt = cn.Tensor(x, requires_grad=True)
    f(xt).backward(y)
    assert xt.grad.shape == x.shape
    np.testing.assert_array_equal(xt.grad, x)
    assert f.forward(np.zeros((0, 3, 4, 5), np.float32)).shape == (0, 60)
    assert nn.Identity().forward(x) is x


# --- PyTorch compatibility ----------------------------------------------------------------

def _pairs():
    return [
        (lambda: nn.Conv2d(3, 8, 3, stride=2, padding=1, groups=1), "Conv2d(3, 8, 3, stride=2, padding=1)"),
        (lambda: nn.Conv2d(4, 8, 3, groups=2, bias=False), "Conv2d(4, 8, 3, groups=2, bias=False)"),
        (lambda: nn.Linear(5, 4), "Linear(5, 4)"),
        (lambda: nn.BatchNorm2d(6), "BatchNorm2d(6)"),
        (lambda: nn.BatchNorm1d(6, affine=False), "BatchNorm1d(6, affine=False)"),
        (lambda: nn.LayerNorm((4, 3)), "LayerNorm((4, 3))"),
        (lambda: nn.GroupNorm(2, 6), "GroupNorm(2, 6)"),
        (lambda: nn.InstanceNorm2d(3, affine=True, track_running_stats=True),
         "InstanceNorm2d(3, affine=True, track_running_stats=True)"),
    ]


@pytest.mark.parametrize("ours,theirs", _pairs())
def test_state_dict_keys_and_shapes_match_pytorch(ours, theirs):
    torch = pytest.importorskip("torch")
    t = eval("torch.nn." + theirs, {"torch": torch})
    m = ours()
    tsd = {k: v.detach().numpy() for k, v in t.state_dict().items()}
    sd = m.state_dict()
    assert list(sd) == list(tsd)
    for k in sd:
        assert sd[k].shape == tsd[k].shape, k
        assert sd[k].dtype == tsd[k].dtype, k
    m.load_state_dict(tsd)  # loads unchanged
    for k in sd:
        np.testing.assert_array_equal(m.state_dict()[k], tsd[k])


def test_sequential_state_dict_matches_pytorch_keys():
    torch = pytest.importorskip("torch")
    ours = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 36, 3))
    theirs = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
                                 torch.nn.Flatten(), torch.nn.Linear(4 * 36, 3))
    assert list(ours.state_dict()) == list(theirs.state_dict())
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})


def test_initialisation_follows_pytorch(rng):
    nn.init.manual_seed(1)
    conv = nn.Conv2d(16, 32, 3)
    fan_in = 16 * 9
    bound = 1 / math.sqrt(fan_in)  # kaiming_uniform(a=sqrt(5)) reduces to 1/sqrt(fan_in)
    w = conv.weight.data
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.95 * bound
    # Uniform(-b, b) has standard deviation b/sqrt(3); 4608 samples pin it to ~2%.
    assert abs(w.std() - bound / math.sqrt(3)) < 0.05 * bound / math.sqrt(3)
    assert np.abs(conv.bias.data).max() <= bound
    lin = nn.Linear(100, 50)
    assert np.abs(lin.weight.data).max() <= 0.1 and np.abs(lin.bias.data).max() <= 0.1
    a = np.empty((64, 32, 3, 3), np.float32)
    nn.init.xavier_uniform_(a)
    assert np.abs(a).max() <= math.sqrt(6 / (32 * 9 + 64 * 9))
    nn.init.kaiming_normal_(a, nonlinearity="relu")
    assert abs(a.std() - math.sqrt(2 / (32 * 9))) < 0.05 * math.sqrt(2 / (32 * 9))
    nn.init.manual_seed(1)
    np.testing.assert_array_equal(nn.Conv2d(16, 32, 3).weight.data, w)  # seeded: reproducible


def test_named_parameters_train_eval_and_freeze():
    m = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8, 2))
    assert [n for n, _ in m.named_parameters()] == ["0.weight", "0.bias", "3.weight", "3.bias"]
    assert len(list(m.parameters())) == 4
    m.eval()
    assert not any(x.training for x in m.modules())
    m.train()
    assert all(x.training for x in m.modules())
    m[0].requires_grad_(False)
    assert [p.requires_grad for p in m.parameters()] == [False, False, True, True]
    assert m.num_parameters(trainable_only=True) == 8 * 2 + 2


@needs("conv2d", "conv2d_weight", "relu", "linear", "linear_backward")
def test_frozen_layer_gets_no_gradient_and_no_backward_work(rng):
    m = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8, 2))
    m[0].requires_grad_(False)
    m.train()
    calls = []
    import cnnnative.ops.conv as conv_area
    real = (conv_area.conv2d_weight, conv_area.conv2d_input)
    conv_area.conv2d_weight = lambda *a, **k: calls.append("weight") or real[0](*a, **k)
    conv_area.conv2d_input = lambda *a, **k: calls.append("input") or real[1](*a, **k)
    try:
        y = m(rng.standard_normal((3, 1, 4, 4)).astype(np.float32))
        y.backward(np.ones(y.shape, np.float32))
    finally:
        conv_area.conv2d_weight, conv_area.conv2d_input = real
    assert calls == []  # the frozen conv costs nothing in backward
    assert m[0].weight.grad is None and m[0].bias.grad is None
    assert m[3].weight.grad is not None and np.abs(m[3].weight.grad).max() > 0


def test_load_state_dict_strict_lists_missing_and_unexpected():
    m = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    sd = m.state_dict()
    del sd["1.running_var"]
    sd["2.weight"] = np.zeros(2, np.float32)
    with pytest.raises(KeyError) as e:
        m.load_state_dict(sd)
    assert "1.running_var" in str(e.value) and "2.weight" in str(e.value)
    missing, unexpected = m.load_state_dict(sd, strict=False)
    assert missing == ["1.running_var"] and unexpected == ["2.weight"]
    bad = m.state_dict()
    bad["0.weight"] = np.zeros((3, 2), np.float32)
    before = m.state_dict()["0.bias"].copy()
    bad["0.bias"] = np.full(2, 7, np.float32)
    with pytest.raises(ValueError, match=r"0\.weight.*\(3, 2\).*\(2, 3\)"):
        m.load_state_dict(bad)
    np.testing.assert_array_equal(m.state_dict()["0.bias"], before)  # nothing half-loaded


# --- bad input ----------------------------------------------------------------------------

@pytest.mark.parametrize("make,err", [
    (lambda: nn.Conv2d(3, 4, 0), ValueError),
    (lambda: nn.Conv2d(3, 4, 3, groups=2), ValueError),
    (lambda: nn.Conv2d(-1, 4, 3), ValueError),
    (lambda: nn.Conv2d(3, 4, 3, padding=-1), ValueError),
    (lambda: nn.Linear(0, 3), ValueError),
    (lambda: nn.MaxPool2d(0), ValueError),
    (lambda: nn.MaxPool2d(2, padding=2), ValueError),
    (lambda: nn.Dropout(1.5), ValueError),
    (lambda: nn.GroupNorm(4, 6), ValueError),
    (lambda: nn.Conv2d(3, 4, "a"), ValueError),
    (lambda: nn.Conv2d(2 ** 40, 2 ** 40, 3), OverflowError),
    (lambda: nn.Linear(2 ** 62, 4), OverflowError),
    (lambda: nn.Conv2d(3, 4, 2 ** 31), OverflowError),
])
def test_bad_layer_arguments(make, err):
    with pytest.raises(err):
        make()


@needs("conv2d")
def test_bad_forward_inputs_name_the_layer():
    conv = nn.Conv2d(3, 4, 3)
    with pytest.raises(ValueError, match=r"Conv2d.*2 channels.*expected 3"):
        conv.forward(np.zeros((1, 2, 5, 5), np.float32))
    with pytest.raises(ValueError, match="4-D"):
        conv.forward(np.zeros((2, 5, 5), np.float32))
    with pytest.raises(TypeError):
        conv.forward(np.array([["a"]]))
    with pytest.raises(ValueError, match=r"does not fit"):
        conv.output_shape((3, 2, 2))
    # Empty batch, non-contiguous and float64 inputs work.
    assert conv.forward(np.zeros((0, 3, 5, 5), np.float32)).shape == (0, 4, 3, 3)
    x = np.arange(2 * 3 * 5 * 10, dtype=np.float64).reshape(2, 3, 5, 10)[..., ::2]
    np.testing.assert_allclose(conv.forward(x), conv.forward(np.ascontiguousarray(x, np.float32)))


def test_deprecated_backward_without_a_recorded_forward_is_a_clear_error():
    with pytest.warns(DeprecationWarning), pytest.raises(RuntimeError, match="no recorded output"):
        nn.Conv2d(1, 1, 1).backward(np.zeros((1, 1, 1, 1), np.float32))
