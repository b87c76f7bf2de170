"""PReLU, ELU, SELU, CELU, Hardtanh, Threshold, Mish, Softplus, Softsign, LogSigmoid and the
channel / alpha dropouts: forward and backward against float64 numpy references under every
ISA (odd lengths for the SIMD tails, one size big enough for several threads), NaN and
infinities and the kinks as PyTorch defines them, the recording versions by central
differences, the nn layers (torch's names, arguments and state_dict), bad arguments, and
torch.nn.functional itself when torch is installed."""
import functools
import re

import numpy as np
import pytest

import cnnnative as cn
from cnnnative import nn, ops
from ref_ops import nan_fill  # noqa: F401  (autouse: NaN-filled outputs)

SIZES = [1, 7, 15, 17, 1000003]
A_SELU, S_SELU = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946


def _sig(x):
    return 0.5 * (1 + np.tanh(0.5 * x))  # no overflow for any x


def _softplus(x):
    return np.logaddexp(0.0, x)


def _mish_grad(x):
    t = np.tanh(_softplus(x))
    return t + x * _sig(x) * (1 - t * t)


# name -> (forward, backward(g, x), float64 forward, float64 derivative, rtol, atol, torch
# function name and kwargs). The parameters are away from the defaults on purpose.
OPS = {
    "elu": (lambda x: ops.elu(x, 0.7), lambda g, x: ops.elu_backward(g, x, 0.7),
            lambda x: np.where(x > 0, x, 0.7 * np.expm1(np.minimum(x, 0))),
            lambda x: np.where(x > 0, 1.0, 0.7 * np.exp(np.minimum(x, 0))), 2e-6, 1e-7, ("elu", {"alpha": 0.7})),
    "selu": (ops.selu, ops.selu_backward,
             lambda x: S_SELU * np.where(x > 0, x, A_SELU * np.expm1(np.minimum(x, 0))),
             lambda x: S_SELU * np.where(x > 0, 1.0, A_SELU * np.exp(np.minimum(x, 0))), 2e-6, 1e-7, ("selu", {})),
    "celu": (lambda x: ops.celu(x, 1.5), lambda g, x: ops.celu_backward(g, x, 1.5),
             lambda x: np.where(x > 0, x, 1.5 * np.expm1(np.minimum(x, 0) / 1.5)),
             lambda x: np.where(x > 0, 1.0, np.exp(np.minimum(x, 0) / 1.5)), 2e-6, 1e-7, ("celu", {"alpha": 1.5})),
    "hardtanh": (lambda x: ops.hardtanh(x, -0.5, 2.0), lambda g, x: ops.hardtanh_backward(g, x, -0.5, 2.0),
                 lambda x: np.clip(x, -0.5, 2.0), lambda x: np.where((x > -0.5) & (x < 2.0), 1.0, 0.0), 0, 0,
                 ("hardtanh", {"min_val": -0.5, "max_val": 2.0})),
    "threshold": (lambda x: ops.threshold(x, 0.5, -2.0), lambda g, x: ops.threshold_backward(g, x, 0.5),
                  lambda x: np.where(x <= 0.5, -2.0, x), lambda x: np.where(x <= 0.5, 0.0, 1.0), 0, 0,
                  ("threshold", {"threshold": 0.5, "value": -2.0})),
    "mish": (ops.mish, ops.mish_backward, lambda x: x * np.tanh(_softplus(x)), _mish_grad, 2e-6, 1e-6,
             ("mish", {})),
    "softplus": (lambda x: ops.softplus(x, 2.0, 5.0), lambda g, x: ops.softplus_backward(g, x, 2.0, 5.0),
                 lambda x: np.where(2 * x > 5, x, _softplus(2 * x) / 2),
                 lambda x: np.where(2 * x > 5, 1.0, _sig(2 * x)), 2e-6, 1e-7,
                 ("softplus", {"beta": 2.0, "threshold": 5.0})),
    "softplus_default": (ops.softplus, ops.softplus_backward, lambda x: np.where(x > 20, x, _softplus(x)),
                         lambda x: np.where(x > 20, 1.0, _sig(x)), 2e-6, 1e-7, ("softplus", {})),
    # beta 1 with a low cut-off, and a cut-off >= 17 with beta != 1 (their own kernel paths)
    "softplus_beta1_cut": (lambda x: ops.softplus(x, 1.0, 2.5), lambda g, x: ops.softplus_backward(g, x, 1.0, 2.5),
                           lambda x: np.where(x > 2.5, x, _softplus(x)), lambda x: np.where(x > 2.5, 1.0, _sig(x)),
                           2e-6, 1e-7, ("softplus", {"beta": 1.0, "threshold": 2.5})),
    "softplus_high_cut": (lambda x: ops.softplus(x, 0.5, 18.0), lambda g, x: ops.softplus_backward(g, x, 0.5, 18.0),
                          lambda x: np.where(0.5 * x > 18, x, _softplus(0.5 * x) / 0.5),
                          lambda x: np.where(0.5 * x > 18, 1.0, _sig(0.5 * x)), 2e-6, 1e-7,
                          ("softplus", {"beta": 0.5, "threshold": 18.0})),
    "softsign": (ops.softsign, ops.softsign_backward, lambda x: x / (1 + np.abs(x)),
                 lambda x: 1 / (1 + np.abs(x)) ** 2, 1e-6, 1e-7, ("softsign", {})),
    "logsigmoid": (ops.logsigmoid, ops.logsigmoid_backward, lambda x: -_softplus(-x), lambda x: _sig(-x),
                   2e-6, 1e-7, ("logsigmoid", {})),
}
NAMES = sorted(OPS)


@functools.lru_cache(maxsize=None)
def _case(name, n):
    """Seeded input (kinks and 0 at the front), upstream gradient and float64 references."""
    rng = np.random.default_rng(n)
    x = (rng.standard_normal(n) * 4).astype(np.float32)
    kinks = np.array([0.0, -0.5, 2.0, 0.5, 2.5, 20.0], np.float32)
    x[: min(n, kinks.size)] = kinks[: min(n, kinks.size)]
    g = rng.standard_normal(n).astype(np.float32)
    f, df = OPS[name][2:4]
    x64 = x.astype(np.float64)
    return x, g, f(x64), g * df(x64)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("n", SIZES)
def test_forward_and_backward_match_float64_reference(isa, name, n):
    fwd, bwd, _, _, rtol, atol, _ = OPS[name]
    x, g, y_ref, gx_ref = _case(name, n)
    y = fwd(x)
    assert y.dtype == np.float32 and y.shape == x.shape
    np.testing.assert_allclose(y, y_ref, rtol=rtol, atol=atol)
    np.testing.assert_allclose(bwd(g, x), gx_ref, rtol=rtol, atol=atol * 10)


@pytest.mark.parametrize("name", NAMES)
def test_any_shape_and_nan_passes_through(isa, name):
    fwd, bwd = OPS[name][:2]
    x = np.linspace(-8, 8, 2 * 3 * 17, dtype=np.float32).reshape(2, 3, 17)
    x[1, 2, 5] = np.nan
    y = fwd(x)
    assert y.shape == x.shape and np.isnan(y[1, 2, 5]) and np.isnan(y).sum() == 1
    assert bwd(np.ones_like(x), x).shape == x.shape


def _torch_fn(name):
    torch = pytest.importorskip("torch")
    fname, kwargs = OPS[name][6]
    f = getattr(torch.nn.functional, fname)
    return torch, (lambda t: f(t, **kwargs))


@pytest.mark.parametrize("name", NAMES)
def test_matches_torch_functional_with_specials(isa, rng, name):
    torch, tf = _torch_fn(name)
    x = (rng.standard_normal(1003) * 5).astype(np.float32)
    specials = [np.nan, np.inf, -np.inf, 0.0, -0.0, -0.5, 2.0, 0.5, 2.5, 20.0, 1e6, -1e6, 88.0, 89.0, -87.0,
                -88.0, -100.0, 1e-30, -1e-30]
    x[: len(specials)] = specials
    g = rng.standard_normal(x.shape).astype(np.float32)
    g[: len(specials)] = 1.0
    xt = torch.from_numpy(x.copy()).requires_grad_(True)
    yt = tf(xt)
    (gt,) = torch.autograd.grad(yt, xt, torch.from_numpy(g))
    fwd, bwd = OPS[name][:2]
    y, gx = fwd(x), bwd(g, x)
    for ours, theirs in ((y, yt.detach().numpy()), (gx, gt.numpy())):
        np.testing.assert_array_equal(np.isnan(ours), np.isnan(theirs))  # NaN where torch has NaN
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)


def test_kinks_as_torch_defines_them():
    x = np.array([0.0, -0.5, 2.0, 0.5, np.nan], np.float32)
    g = np.ones_like(x)
    np.testing.assert_array_equal(ops.elu_backward(g, x, 0.7)[:1], np.float32([0.7]))  # x = 0: the exp side
    np.testing.assert_allclose(ops.selu_backward(g, x)[:1], [A_SELU * S_SELU], rtol=1e-6)
    np.testing.assert_array_equal(ops.hardtanh_backward(g, x, -0.5, 2.0), [1, 0, 0, 1, 0])
    np.testing.assert_array_equal(ops.threshold_backward(g, x, 0.5), [0, 0, 1, 0, 1])
    np.testing.assert_array_equal(ops.threshold(x, 0.5, -2.0)[:4], [-2, -2, 2, -2])
    # softplus: x itself past the threshold (beta x > threshold), the log form at it
    y = ops.softplus(np.array([2.5, 2.5001, 30.0], np.float32), 2.0, 5.0)
    assert y[1] == np.float32(2.5001) and y[2] == 30.0 and y[0] == np.float32(np.log1p(np.exp(5.0)) / 2)


def _recorded(name):
    fwd = OPS[name][0]
    return fwd  # the ops dispatch Tensors to their recording versions


@pytest.mark.parametrize("name", NAMES)
def test_recording_version_matches_float64_central_differences(rng, name):
    f = OPS[name][2]
    x = (rng.standard_normal((3, 5)) * 3).astype(np.float32)
    for kink in (0.0, -0.5, 2.0, 0.5, 2.5):
        x[np.abs(x - kink) < 1e-2] = 1.0  # away from the kinks
    g = rng.standard_normal(x.shape).astype(np.float32)
    t = cn.Tensor(x, requires_grad=True)
    y = _recorded(name)(t)
    assert isinstance(y, cn.Tensor) and y.requires_grad
    np.testing.assert_allclose(y.numpy(), OPS[name][0](x))
    y.backward(g)
    h, x64 = 1e-6, x.astype(np.float64)
    numeric = g * (f(x64 + h) - f(x64 - h)) / (2 * h)
    assert np.abs(t.grad).max() > 0
    np.testing.assert_allclose(t.grad, numeric, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("op", [ops.elu, ops.selu, ops.celu, ops.hardtanh, ops.mish])
def test_recording_refuses_out(op):
    t = cn.Tensor(np.ones(4, np.float32), requires_grad=True)
    with pytest.raises(ValueError, match="out="):
        op(t, out=t)


def test_out_writes_in_place():
    x = np.linspace(-3, 3, 37, dtype=np.float32)
    for op, args in ((ops.elu, (0.5,)), (ops.selu, ()), (ops.celu, (2.0,)), (ops.hardtanh, (-1.0, 1.0)),
                     (ops.threshold, (0.1, 7.0)), (ops.mish, ())):
        a = x.copy()
        want = op(x, *args)
        assert op(a, *args, out=a) is a
        np.testing.assert_array_equal(a, want)


# --- PReLU ---------------------------------------------------------------------------------------
def _prelu_ref(x, w):
    x64 = x.astype(np.float64)
    wb = w.astype(np.float64).reshape((1, -1) + (1,) * (x.ndim - 2)) if w.size > 1 else np.float64(w.reshape(-1)[0])
    return np.where(x64 > 0, x64, wb * x64), wb


@pytest.mark.parametrize("shape,slopes", [((2, 3, 5, 7), 3), ((2, 3, 5, 7), 1), ((4, 3), 3), ((1, 5, 1001), 5),
                                          ((2, 4, 20011), 4), ((3, 2, 9, 4, 5), 2), ((13,), 1), ((), 1),
                                          ((2, 40000), 1), ((5, 6, 3), 6)])
def test_prelu_forward_and_both_gradients_match_float64(isa, rng, shape, slopes):
    x = rng.standard_normal(shape).astype(np.float32)
    w = (rng.standard_normal(slopes) * 0.5).astype(np.float32)
    g = rng.standard_normal(shape).astype(np.float32)
    y_ref, wb = _prelu_ref(x, w)
    np.testing.assert_allclose(ops.prelu(x, w), y_ref, rtol=1e-6, atol=0)
    gx, gw = ops.prelu_backward(g, x, w)
    x64, g64 = x.astype(np.float64), g.astype(np.float64)
    np.testing.assert_allclose(gx, np.where(x64 > 0, g64, wb * g64), rtol=1e-6)
    term = np.where(x64 > 0, 0.0, x64 * g64)
    gw_ref = term.sum(axis=tuple(i for i in range(x.ndim) if i != 1)) if slopes > 1 else np.array([term.sum()])
    assert gw.shape == w.shape
    np.testing.assert_allclose(gw, gw_ref, rtol=2e-5, atol=1e-4)
    gx_only, none = ops.prelu_backward(g, x, w, weight_grad=False)
    assert none is None
    np.testing.assert_array_equal(gx_only, gx)
    none, gw_only = ops.prelu_backward(g, x, w, input_grad=False)
    assert none is None
    np.testing.assert_allclose(gw_only, gw_ref, rtol=2e-5, atol=1e-4)


def test_prelu_nan_and_scalar_weight():
    x = np.array([[np.nan, -1.0, 2.0]], np.float32)
    y = ops.prelu(x, np.float32(0.5))
    assert np.isnan(y[0, 0]) and y[0, 1] == -0.5 and y[0, 2] == 2.0
    gx, gw = ops.prelu_backward(np.ones_like(x), x, np.float32(0.5))
    assert gw.shape == () and np.isnan(gw) and gx[0, 0] == 0.5  # as torch: x > 0 is false for NaN


@pytest.mark.parametrize("x_shape,w_shape,words", [
    ((2, 3, 4), (2,), "weight has 2 elements; it needs 1 (shared) or one per channel (input shape (2, 3, 4), 3 channels"),
    ((3,), (3,), "weight has 3 elements; it needs 1 (shared) or one per channel (input shape (3,), 1 channels"),
    ((2, 3), (1, 3), "weight must be a scalar or 1-D, got shape (1, 3)"),
])
def test_prelu_bad_weight_names_the_sizes(x_shape, w_shape, words):
    x, w = np.ones(x_shape, np.float32), np.ones(w_shape, np.float32)
    with pytest.raises(ValueError, match=re.escape(words)):
        ops.prelu(x, w)
    with pytest.raises(ValueError, match=re.escape(words.split(";")[0])):
        ops.prelu_backward(x, x, w)


def test_prelu_layer_state_dict_and_training_match_torch(rng):
    torch = pytest.importorskip("torch")
    for n in (1, 4):
        ours, theirs = nn.PReLU(n), torch.nn.PReLU(n)
        ts = {k: v.detach().numpy() for k, v in theirs.state_dict().items()}
        os_ = ours.state_dict()
        assert list(os_) == list(ts) == ["weight"]
        assert os_["weight"].shape == ts["weight"].shape == (n,)
        np.testing.assert_array_equal(np.asarray(os_["weight"]), ts["weight"])  # init 0.25
        with torch.no_grad():
            theirs.weight.copy_(torch.from_numpy(rng.standard_normal(n).astype(np.float32)))
        ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
        x = rng.standard_normal((2, 4, 3, 5)).astype(np.float32)
        g = rng.standard_normal(x.shape).astype(np.float32)
        xt = torch.from_numpy(x.copy()).requires_grad_(True)
        yt = theirs(xt)
        yt.backward(torch.from_numpy(g))
        t = cn.Tensor(x, requires_grad=True)
        y = ours(t)
        y.backward(g)
        np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=1e-6)
        np.testing.assert_allclose(t.grad, xt.grad.numpy(), rtol=1e-6)
        np.testing.assert_allclose(ours.weight.grad, theirs.weight.grad.numpy(), rtol=1e-5, atol=1e-5)
        assert np.abs(ours.weight.grad).max() > 0


def test_prelu_weight_gradient_by_central_differences(rng):
    x = rng.standard_normal((2, 3, 4)).astype(np.float32)
    w = np.array([0.1, -0.3, 0.7], np.float32)
    g = rng.standard_normal(x.shape).astype(np.float32)
    wt = cn.Tensor(w, requires_grad=True)
    ops.prelu(cn.Tensor(x), wt).backward(g)
    h = 1e-6
    numeric = []
    for c in range(3):
        up, down = w.astype(np.float64).copy(), w.astype(np.float64).copy()
        up[c] += h
        down[c] -= h
        f = lambda v: (g * np.where(x > 0, x, v.reshape(1, 3, 1) * x)).sum()  # noqa: E731
        numeric.append((f(up) - f(down)) / (2 * h))
    assert np.abs(wt.grad).min() > 0
    np.testing.assert_allclose(wt.grad, numeric, rtol=1e-4, atol=1e-5)


# --- layers, functional names, arguments -----------------------------------------------------------
LAYERS = [
    (lambda: nn.ELU(0.7), "elu"), (lambda: nn.SELU(), "selu"), (lambda: nn.CELU(1.5), "celu"),
    (lambda: nn.Hardtanh(-0.5, 2.0), "hardtanh"), (lambda: nn.Threshold(0.5, -2.0), "threshold"),
    (lambda: nn.Mish(), "mish"), (lambda: nn.Softplus(2.0, 5.0), "softplus"), (lambda: nn.Softsign(), "softsign"),
    (lambda: nn.LogSigmoid(), "logsigmoid"),
]


@pytest.mark.parametrize("layer,name", LAYERS)
def test_layers_and_functional_names(rng, layer, name):
    x = rng.standard_normal((2, 3, 4)).astype(np.float32)
    want = OPS[name][0](x)
    np.testing.assert_array_equal(layer()(x), want)
    fname, kwargs = OPS[name][6]
    np.testing.assert_array_equal(getattr(nn.functional, fname)(x, **kwargs), want)
    assert fname in nn.functional.__all__


@pytest.mark.parametrize("cls,args,name", [(nn.ELU, (0.7,), "elu"), (nn.SELU, (), "selu"), (nn.CELU, (1.5,), "celu"),
                                           (nn.Hardtanh, (-0.5, 2.0), "hardtanh"),
                                           (nn.Threshold, (0.5, -2.0), "threshold"), (nn.Mish, (), "mish")])
def test_inplace_layers(rng, cls, args, name):
    x = rng.standard_normal(37).astype(np.float32)
    want = OPS[name][0](x)
    layer = cls(*args, inplace=True)
    assert "inplace=True" in repr(layer)
    assert layer(x) is x
    np.testing.assert_array_equal(x, want)
    t = cn.Tensor(rng.standard_normal(5).astype(np.float32), requires_grad=True)
    before = t.data.copy()
    cls(*args, inplace=True)(t).sum().backward()  # recording: a fresh array, the input kept
    np.testing.assert_array_equal(t.data, before)
    np.testing.assert_allclose(t.grad, OPS[name][1](np.ones(5, np.float32), before))


@pytest.mark.parametrize("call,error,words", [
    (lambda: ops.celu(np.ones(3, np.float32), 0.0), ValueError, "alpha cannot be 0"),
    (lambda: nn.CELU(0.0), ValueError, "alpha cannot be 0"),
    (lambda: ops.hardtanh(np.ones(3, np.float32), 1.0, -1.0), ValueError,
     "min_val (1.0) cannot be greater than max_val (-1.0)"),
    (lambda: nn.Hardtanh(1.0, 1.0), ValueError, "max_val (1.0) must be greater than min_val (1.0)"),
    (lambda: ops.softplus(np.ones(3, np.float32), 0.0), ValueError, "beta cannot be 0"),
    (lambda: ops.elu(np.ones(3, np.float32), "1"), TypeError, "alpha must be a number"),
    (lambda: ops.elu(np.ones(3, np.float32), float("nan")), ValueError, "alpha must be finite"),
    (lambda: nn.PReLU(0), ValueError, "num_parameters must be >= 1, got 0"),
    (lambda: nn.PReLU(2.5), TypeError, "num_parameters must be an int"),
    (lambda: ops.elu_backward(np.ones(3, np.float32), np.ones(4, np.float32)), ValueError, "shape"),
    (lambda: ops.dropout2d(np.ones((2, 3), np.float32), 0.5), ValueError, "expected a 3-D or 4-D input"),
    (lambda: ops.dropout3d(np.ones((2, 3, 4), np.float32), 0.5), ValueError, "expected a 4-D or 5-D input"),
    (lambda: ops.dropout2d(np.ones((2, 3, 4), np.float32), 1.5), ValueError, "p must be in [0, 1], got 1.5"),
    (lambda: ops.alpha_dropout(np.ones(3, np.float32), -0.1, True), ValueError, "p must be in [0, 1]"),
])
def test_bad_arguments_are_clear_errors(call, error, words):
    with pytest.raises(error, match=re.escape(words)):
        call()


def test_negative_alpha_is_allowed_as_in_torch():
    x = np.array([-1.0, 1.0], np.float32)
    np.testing.assert_allclose(ops.elu(x, -1.0), [np.expm1(-1.0) * -1.0, 1.0], rtol=1e-6)


# --- channel and alpha dropout ---------------------------------------------------------------------------
@pytest.mark.parametrize("op,shape", [(ops.dropout2d, (4, 6, 5, 3)), (ops.dropout2d, (4, 6, 7)),
                                      (ops.dropout3d, (3, 5, 2, 3, 4)), (ops.dropout3d, (5, 2, 3, 4))])
def test_channel_dropout_zeroes_whole_channels_and_scales(rng, op, shape):
    x = rng.standard_normal(shape).astype(np.float32) + 5.0  # never 0
    y = op(x, 0.4, seed=7)
    batched = op is ops.dropout2d or len(shape) == 5
    per_channel = y.reshape((shape[0] * shape[1], -1) if batched else (shape[0], -1))
    xs = x.reshape(per_channel.shape)
    kept = np.all(per_channel != 0, axis=1)
    assert np.all(np.all(per_channel == 0, axis=1) | kept)  # whole channels
    assert 0 < kept.sum() < kept.size
    scale = np.float32(1.0) / np.float32(0.6)
    np.testing.assert_array_equal(per_channel[kept], xs[kept] * scale)
    np.testing.assert_array_equal(op(x, 0.4, seed=7), y)  # same seed, same mask
    assert not np.array_equal(op(x, 0.4, seed=8), y)
    np.testing.assert_array_equal(op(x, 0.4, training=False), x)
    np.testing.assert_array_equal(op(x, 1.0, seed=1), np.zeros_like(x))


def test_channel_dropout_rate_and_gradient(rng):
    x = np.ones((200, 100, 2, 2), np.float32)
    y = ops.dropout2d(x, 0.3, seed=3)
    assert abs((y[:, :, 0, 0] == 0).mean() - 0.3) < 0.02
    t = cn.Tensor(x, requires_grad=True)
    out = ops.dropout2d(t, 0.3, seed=3)
    np.testing.assert_array_equal(out.numpy(), y)
    g = rng.standard_normal(x.shape).astype(np.float32)
    out.backward(g)
    np.testing.assert_array_equal(t.grad, g * (y / x))  # the same channel scale
    assert np.abs(t.grad).max() > 0


def test_layers_are_seeded_and_train_only(rng):
    x = rng.standard_normal((2, 8, 4, 4)).astype(np.float32)
    for cls in (nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout):
        a, b = cls(0.5, seed=11), cls(0.5, seed=11)
        inp = x if cls is not nn.Dropout3d else x[:, :, None]
        ya = a(inp)
        np.testing.assert_array_equal(ya, b(inp))
        assert not np.array_equal(ya, inp)
        assert not np.array_equal(a(inp), ya)  # the next call draws a new mask
        a.eval()
        np.testing.assert_array_equal(a(inp), inp)
        assert repr(a) == f"{cls.__name__}(p=0.5)"


def test_alpha_dropout_keeps_mean_and_variance_and_matches_torch_formula(rng):
    x = rng.standard_normal(400000).astype(np.float32)
    p = 0.2
    y = ops.alpha_dropout(x, p, True, seed=5)
    assert abs(y.mean()) < 0.01 and abs(y.std() - 1) < 0.01
    alpha = A_SELU * S_SELU
    a = 1.0 / np.sqrt((alpha * alpha * p + 1) * (1 - p))
    dropped_value = np.float32(-alpha * a) + np.float32(alpha * a * p)
    dropped = y == dropped_value
    assert abs(dropped.mean() - p) < 0.01
    np.testing.assert_allclose(y[~dropped], x[~dropped] * np.float32(a) + np.float32(alpha * a * p), rtol=1e-6,
                               atol=1e-6)
    t = cn.Tensor(x, requires_grad=True)
    out = ops.alpha_dropout(t, p, True, seed=5)
    np.testing.assert_array_equal(out.numpy(), y)
    out.backward(np.ones_like(x))
    np.testing.assert_allclose(t.grad, np.where(dropped, 0.0, a), rtol=1e-6)
    np.testing.assert_array_equal(ops.alpha_dropout(x, p), x)  # training=False by default, as torch


# --- compile -----------------------------------------------------------------------------------------------
def test_compiled_model_with_the_new_layers_gives_the_eager_output(rng):
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.PReLU(4), nn.Dropout2d(0.5), nn.ELU(0.5),
                          nn.Conv2d(4, 4, 3, padding=1), nn.PReLU(), nn.SELU(), nn.CELU(2.0), nn.Hardtanh(-2, 2),
                          nn.Mish(), nn.Softplus(2.0, 3.0), nn.Threshold(0.1, -1.0), nn.Softsign(), nn.LogSigmoid(),
                          nn.AlphaDropout(0.3), nn.Flatten(), nn.Linear(4 * 6 * 6, 5))
    model[1].weight.data[:] = [0.1, -0.2, 0.3, 0.5]
    model.eval()
    x = rng.standard_normal((2, 3, 6, 6)).astype(np.float32)
    compiled = cn.compile(model, (2, 3, 6, 6))
    with cn.no_grad():
        expected = np.asarray(model(x))
    np.testing.assert_allclose(compiled(x), expected, rtol=1e-5, atol=1e-6)


def test_compile_translates_the_torch_layers(rng):
    torch = pytest.importorskip("torch")
    tnn = torch.nn
    model = tnn.Sequential(tnn.Conv2d(3, 4, 3), tnn.PReLU(4), tnn.Dropout3d(), tnn.ELU(0.3), tnn.SELU(),
                           tnn.CELU(1.2), tnn.Hardtanh(-1.5, 1.5), tnn.Threshold(0.2, 0.0), tnn.Mish(),
                           tnn.Softplus(1.5, 10.0), tnn.Softsign(), tnn.LogSigmoid(), tnn.AlphaDropout()).eval()
    with torch.no_grad():
        model[1].weight.copy_(torch.tensor([0.1, -0.2, 0.3, 0.5]))
    x = rng.standard_normal((2, 3, 7, 7)).astype(np.float32)
    compiled = cn.compile(model, x.shape)
    with torch.no_grad():
        expected = model(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(compiled(x), expected, rtol=1e-5, atol=1e-5)
