"""SiLU, GELU (exact and tanh), Hardswish, Hardsigmoid: forward and backward against float64
numpy references under every ISA, special values and kinks as PyTorch defines them, the
recording versions by central differences, the nn layers, and torch.nn.functional itself."""
import functools
import math

import numpy as np
import pytest

import cnnnative as cn
from cnnnative import nn, ops
from ref_ops import nan_fill  # noqa: F401  (autouse: NaN-filled outputs)

# Around the vector widths (8, 16 floats) and, last, big enough to run on several threads.
SIZES = [1, 7, 15, 17, 1000003]

_erf = np.vectorize(math.erf, otypes=[np.float64])
_BETA, _KAPPA = math.sqrt(2 / math.pi), 0.044715


def _sig(x):
    return 1 / (1 + np.exp(-x))


def _gelu_tanh(x):
    return 0.5 * x * (1 + np.tanh(_BETA * (x + _KAPPA * x**3)))


def _gelu_tanh_grad(x):
    t = np.tanh(_BETA * (x + _KAPPA * x**3))
    return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * _BETA * (1 + 3 * _KAPPA * x * x)


# name -> (forward, backward(g, x), reference forward, reference derivative, rtol, atol),
# the references in float64. Hardswish/Hardsigmoid are exact up to float32 rounding.
OPS = {
    "silu": (ops.silu, ops.silu_backward, lambda x: x * _sig(x),
             lambda x: _sig(x) * (1 + x * (1 - _sig(x))), 2e-6, 1e-7),
    "gelu": (ops.gelu, ops.gelu_backward, lambda x: 0.5 * x * (1 + _erf(x / math.sqrt(2))),
             lambda x: 0.5 * (1 + _erf(x / math.sqrt(2))) + x * np.exp(-x * x / 2) / math.sqrt(2 * math.pi),
             1e-5, 1e-6),
    "gelu_tanh": (lambda x: ops.gelu(x, approximate="tanh"),
                  lambda g, x: ops.gelu_backward(g, x, approximate="tanh"), _gelu_tanh, _gelu_tanh_grad,
                  1e-5, 1e-6),
    "hardswish": (ops.hardswish, ops.hardswish_backward, lambda x: x * np.clip(x + 3, 0, 6) / 6,
                  lambda x: np.where(x <= -3, 0.0, np.where(x >= 3, 1.0, x / 3 + 0.5)), 1e-6, 1e-7),
    "hardsigmoid": (ops.hardsigmoid, ops.hardsigmoid_backward, lambda x: np.clip(x + 3, 0, 6) / 6,
                    lambda x: np.where((x > -3) & (x < 3), 1 / 6, 0.0), 1e-6, 1e-7),
}
NAMES = sorted(OPS)


@functools.lru_cache(maxsize=None)
def _case(name, n):
    """Seeded input (with the kinks +-3 and 0 in it), upstream gradient and float64 references."""
    rng = np.random.default_rng(n)
    x = (rng.standard_normal(n) * 4).astype(np.float32)
    x[: min(n, 3)] = np.array([-3.0, 3.0, 0.0], np.float32)[: min(n, 3)]
    g = rng.standard_normal(n).astype(np.float32)
    _, _, f, df, _, _ = OPS[name]
    x64 = x.astype(np.float64)
    return x, g, f(x64), g * df(x64)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("n", SIZES)
def test_forward_and_backward_match_float64_reference(isa, name, n):
    fwd, bwd, _, _, rtol, atol = OPS[name]
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


def test_kinks_and_infinities_as_torch_defines_them(isa):
    x = np.array([-3, 3, np.nan, np.inf, -np.inf, -100, 0, 100] * 3, np.float32)
    g = np.ones_like(x)
    nan = np.nan
    expect = {  # forward, backward on the first 8 values (checked against torch below too)
        "hardswish": ([-0.0, 3, nan, np.inf, nan, -0.0, 0, 100], [0, 1, nan, 1, 0, 0, 0.5, 1]),
        "hardsigmoid": ([0, 1, nan, 1, 0, 0, 0.5, 1], [0, 0, 0, 0, 0, 0, 1 / 6, 0]),
        "silu": ([None, None, nan, np.inf, nan, -0.0, 0, 100], [None, None, nan, nan, nan, -0.0, 0.5, 1]),
        "gelu": ([None, None, nan, np.inf, nan, 0, 0, 100], [None, None, nan, nan, nan, 0, 0.5, 1]),
        "gelu_tanh": ([None, None, nan, np.inf, nan, 0, 0, 100], [None, None, nan, nan, nan, 0, 0.5, 1]),
    }
    for name, (fy, fg) in expect.items():
        fwd, bwd = OPS[name][:2]
        for got, want in ((fwd(x)[:8], fy), (bwd(g, x)[:8], fg)):
            for a, b in zip(got, want):
                if b is not None:
                    assert (np.isnan(a) and np.isnan(b)) or np.float32(a) == np.float32(b), (name, got)


def test_bad_approximate_is_a_value_error():
    x = np.zeros(3, np.float32)
    for bad in ("exact", None, 1):
        with pytest.raises(ValueError, match="approximate"):
            ops.gelu(x, approximate=bad)
        with pytest.raises(ValueError, match="approximate"):
            ops.gelu_backward(x, x, bad)
        with pytest.raises(ValueError, match="approximate"):
            nn.GELU(approximate=bad)
    with pytest.raises(ValueError, match="shape"):
        ops.silu_backward(np.zeros(3, np.float32), np.zeros(4, np.float32))


def _recorded(name):
    if name == "gelu_tanh":
        return lambda t: ops.gelu(t, approximate="tanh")
    return getattr(ops, name)


@pytest.mark.parametrize("name", NAMES)
def test_recording_version_matches_float64_central_differences(rng, name):
    f = OPS[name][2]
    x = (rng.standard_normal((3, 5)) * 3).astype(np.float32)
    x[np.abs(np.abs(x) - 3) < 1e-2] = 1.0  # away from the kinks
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


@pytest.mark.parametrize("name", NAMES)
def test_out_of_recording_is_refused_for_out(name):
    if name.startswith("gelu"):
        return
    t = cn.Tensor(np.ones(4, np.float32), requires_grad=True)
    with pytest.raises(ValueError, match="out="):
        getattr(ops, name)(t, out=t)


@pytest.mark.parametrize("layer,name", [(lambda: nn.SiLU(), "silu"), (lambda: nn.GELU(), "gelu"),
                                        (lambda: nn.GELU(approximate="tanh"), "gelu_tanh"),
                                        (lambda: nn.Hardswish(), "hardswish"),
                                        (lambda: nn.Hardsigmoid(), "hardsigmoid")])
def test_layers_and_functional_names(rng, layer, name):
    x = rng.standard_normal((2, 3, 4)).astype(np.float32)
    want = OPS[name][0](x)
    np.testing.assert_array_equal(layer()(x), want)
    base = name.split("_")[0]
    fn = getattr(nn.functional, base)
    np.testing.assert_array_equal(fn(x, approximate="tanh") if name == "gelu_tanh" else fn(x), want)


@pytest.mark.parametrize("cls,name", [(nn.SiLU, "silu"), (nn.Hardswish, "hardswish"),
                                      (nn.Hardsigmoid, "hardsigmoid")])
def test_inplace_layers_overwrite_their_input(rng, cls, name):
    x = rng.standard_normal(37).astype(np.float32)
    want = OPS[name][0](x)
    y = cls(inplace=True)(x)
    assert y is x
    np.testing.assert_array_equal(x, want)
    t = cn.Tensor(rng.standard_normal(5).astype(np.float32), requires_grad=True)
    before = t.data.copy()
    cls(inplace=True)(t).sum().backward()  # recording: a fresh array, the input kept
    np.testing.assert_array_equal(t.data, before)
    np.testing.assert_allclose(t.grad, OPS[name][1](np.ones(5, np.float32), before))


@pytest.mark.parametrize("name", NAMES)
def test_matches_torch_functional(isa, rng, name):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    tf = {"silu": F.silu, "gelu": F.gelu, "gelu_tanh": lambda t: F.gelu(t, approximate="tanh"),
          "hardswish": F.hardswish, "hardsigmoid": F.hardsigmoid}[name]
    x = (rng.standard_normal(1003) * 5).astype(np.float32)
    x[:9] = [-3, 3, np.nan, np.inf, -np.inf, -100, 0, 100, -0.0]
    g = rng.standard_normal(x.shape).astype(np.float32)
    xt = torch.from_numpy(x.copy()).requires_grad_(True)
    yt = tf(xt)
    (gt,) = torch.autograd.grad(yt, xt, torch.from_numpy(g))
    fwd, bwd, ref, _, rtol, atol = OPS[name]
    want = yt.detach().numpy().copy()
    # torch 2.13's CPU gelu gives nan at +inf, where the limit (and our float64 reference)
    # is +inf: there the reference is the truth, everywhere else torch's value.
    torch_nan_only = np.isnan(want) & ~np.isnan(ref(x.astype(np.float64)))
    want[torch_nan_only] = ref(x.astype(np.float64))[torch_nan_only]
    np.testing.assert_allclose(fwd(x), want, rtol=max(rtol, 1e-5), atol=atol * 10)
    np.testing.assert_allclose(bwd(g, x), gt.numpy(), rtol=max(rtol, 1e-5), atol=atol * 10)
