"""Activations, add / add_relu and softmax / log_softmax: forward against float64
references under every ISA, backward by finite differences, special values, bad input."""
import numpy as np
import pytest

import ref_ops as ref
from cnnnative import ops
from ref_ops import nan_fill  # noqa: F401  (autouse: NaN-filled outputs)

# Sizes around the vector widths (8 and 16 floats) and the threading grain (32768).
SIZES = [1, 7, 8, 15, 16, 17, 31, 97, 32768 * 2 + 13]

# (name, forward, reference, backward taking (g, saved), what backward saves, rtol).
# exp-based activations: the vectorised exp is within a few ulp (rtol 2e-6 = ~16 ulp).
UNARY = [
    ("relu", ops.relu, ref.relu, ops.relu_backward, "output", 0),
    ("relu6", ops.relu6, ref.relu6, ops.relu6_backward, "output", 0),
    ("leaky_relu", lambda x: ops.leaky_relu(x, 0.1), lambda x: ref.leaky_relu(x, 0.1),
     lambda g, x: ops.leaky_relu_backward(g, x, 0.1), "input", 1e-7),
    ("sigmoid", ops.sigmoid, ref.sigmoid, ops.sigmoid_backward, "output", 2e-6),
    ("tanh", ops.tanh, ref.tanh, ops.tanh_backward, "output", 2e-6),
]
UNARY_IDS = [u[0] for u in UNARY]


@pytest.mark.parametrize("op", UNARY, ids=UNARY_IDS)
@pytest.mark.parametrize("n", SIZES)
def test_unary_forward_matches_reference(isa, rng, op, n):
    name, fwd, reference, _, _, rtol = op
    x = (rng.standard_normal(n) * 4).astype(np.float32)
    x[: min(n, 3)] = [0.0, 6.0, -0.0][: min(n, 3)]
    y = fwd(x)
    assert y.dtype == np.float32 and y.shape == x.shape
    np.testing.assert_allclose(y, reference(x), rtol=rtol, atol=1e-30 if rtol else 0)


@pytest.mark.parametrize("op", UNARY, ids=UNARY_IDS)
def test_unary_backward_finite_differences(isa, rng, op):
    name, fwd, reference, bwd, saved, _ = op
    x = rng.standard_normal((3, 5, 7)) * 3
    x[np.abs(x) < 0.05] = 0.5          # keep away from relu's kink
    x[np.abs(x - 6) < 0.05] = 5.0      # and relu6's upper kink
    g = rng.standard_normal(x.shape)
    num = ref.numeric_grad(lambda z: float(np.sum(reference(z) * g)), x)
    dx = bwd(g, fwd(x) if saved == "output" else x)
    assert np.abs(dx).max() > 0.1
    np.testing.assert_allclose(dx, num, rtol=1e-4, atol=1e-5)  # float32 kernel vs float64 FD


def test_activation_special_values(isa):
    x = np.array([np.nan, np.inf, -np.inf, -1e30, 1e30, 88.8, -88.8, 100.0, -100.0, 1e-30, -0.0],
                 np.float32)
    with np.errstate(over="ignore", invalid="ignore"):
        np.testing.assert_array_equal(ops.relu(x)[1:], ref.relu(x)[1:].astype(np.float32))
        assert np.isnan(ops.relu(x)[0]) and np.isnan(ops.relu6(x)[0])
        s = ops.sigmoid(x)
        assert np.isnan(s[0])
        np.testing.assert_allclose(s[1:], ref.sigmoid(x[1:]), rtol=2e-6, atol=1e-37)
        t = ops.tanh(x)
        assert np.isnan(t[0])
        np.testing.assert_allclose(t[1:], np.tanh(x[1:].astype(np.float64)), rtol=2e-6, atol=0)
        # tanh keeps full relative accuracy near 0 (no 1 - 2/(e^2x + 1) cancellation)
        small = np.array([1e-3, 3e-5, -2e-7, 0.2, -0.26], np.float32)
        np.testing.assert_allclose(ops.tanh(small), np.tanh(small.astype(np.float64)), rtol=2e-6)


@pytest.mark.parametrize("n", SIZES)
def test_add_and_add_relu(isa, rng, n):
    a = rng.standard_normal(n).astype(np.float32)
    b = rng.standard_normal(n).astype(np.float32)
    np.testing.assert_array_equal(ops.add(a, b), a + b)  # one rounding, same as numpy's
    np.testing.assert_array_equal(ops.add_relu(a, b), np.maximum(a + b, 0))


def test_add_relu_backward_via_relu_backward(rng):
    a = rng.standard_normal((4, 9))
    b = rng.standard_normal((4, 9))
    g = rng.standard_normal((4, 9))
    num = ref.numeric_grad(lambda z: float(np.sum(ref.relu(z + b) * g)), a)
    np.testing.assert_allclose(ops.relu_backward(g, ops.add_relu(a, b)), num, rtol=1e-4, atol=1e-5)


# --- softmax -------------------------------------------------------------------------------

SOFTMAX_SHAPES = [((1,), 0), ((17,), -1), ((3, 1000), 1), ((2, 5, 7), 0), ((2, 5, 7), 1),
                  ((2, 5, 7), -1), ((3, 7, 300), 1), ((2, 3, 4, 5), 2), ((40, 513), 0)]


@pytest.mark.parametrize("shape,dim", SOFTMAX_SHAPES, ids=[f"{s}-{d}" for s, d in SOFTMAX_SHAPES])
def test_softmax_and_log_softmax_match_reference(isa, rng, shape, dim):
    x = (rng.standard_normal(shape) * 5).astype(np.float32)
    # Each output is exp(x - max) / sum: a few ulp from exp plus the sum's rounding.
    np.testing.assert_allclose(ops.softmax(x, dim), ref.softmax(x, dim), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(ops.log_softmax(x, dim), ref.log_softmax(x, dim), rtol=1e-5, atol=2e-6)


def test_softmax_large_magnitudes_do_not_overflow(isa):
    x = np.array([[1e4, 1e4 - 1, -1e4, 0.0], [-1e4, -1e4, -1e4 - 2, -3e4]], np.float32)
    y = ops.softmax(x, 1)
    ly = ops.log_softmax(x, 1)
    assert np.all(np.isfinite(y)) and np.all(np.isfinite(ly))
    np.testing.assert_allclose(y, ref.softmax(x, 1), rtol=1e-5, atol=1e-30)
    np.testing.assert_allclose(ly, ref.log_softmax(x, 1), rtol=1e-6, atol=1e-5)
    np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=1e-6)


@pytest.mark.parametrize("shape,dim", [((3, 7), 1), ((2, 5, 3), 1), ((4, 3), 0)])
@pytest.mark.parametrize("log", [False, True])
def test_softmax_backward_finite_differences(isa, rng, shape, dim, log):
    x = rng.standard_normal(shape) * 2
    g = rng.standard_normal(shape)
    f = ref.log_softmax if log else ref.softmax
    num = ref.numeric_grad(lambda z: float(np.sum(f(z, dim) * g)), x)
    if log:
        dx = ops.log_softmax_backward(g, ops.log_softmax(x, dim), dim)
    else:
        dx = ops.softmax_backward(g, ops.softmax(x, dim), dim)
    assert np.abs(dx).max() > 0.01
    np.testing.assert_allclose(dx, num, rtol=1e-4, atol=1e-5)


def test_softmax_matches_torch(rng):
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((4, 6, 5)).astype(np.float32) * 10
    for dim in (0, 1, 2):
        xt = torch.from_numpy(x).requires_grad_()
        yt = torch.softmax(xt, dim)
        g = rng.standard_normal(x.shape).astype(np.float32)
        yt.backward(torch.from_numpy(g))
        np.testing.assert_allclose(ops.softmax(x, dim), yt.detach().numpy(), rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(ops.softmax_backward(g, ops.softmax(x, dim), dim), xt.grad.numpy(),
                                   rtol=1e-4, atol=1e-6)


# --- conversions, empty, bad input -----------------------------------------------------------

def test_activations_convert_inputs_and_handle_empty(rng):
    base = rng.standard_normal((6, 10))
    x = base[:, ::2]
    x.flags.writeable = False
    expect = np.ascontiguousarray(x, np.float32)
    np.testing.assert_array_equal(ops.relu(x), ops.relu(expect))
    np.testing.assert_array_equal(ops.softmax(x, 0), ops.softmax(expect, 0))
    np.testing.assert_array_equal(ops.add(x, x), expect + expect)
    assert x.flags.writeable is False and x.dtype == np.float64  # input untouched
    for fn in (ops.relu, ops.sigmoid, ops.tanh, lambda z: ops.softmax(z, 1)):
        assert fn(np.zeros((0, 5), np.float32)).shape == (0, 5)
    assert ops.softmax(np.float32(3.0), -1) == 1.0


def test_activation_bad_inputs():
    a = np.zeros((2, 3), np.float32)
    with pytest.raises(ValueError, match=r"add: a has shape \(2, 3\) but b has shape \(3, 2\)"):
        ops.add(a, a.T)
    with pytest.raises(ValueError, match="grad_output has shape"):
        ops.relu_backward(a, a[:1])
    with pytest.raises(ValueError, match="dim 2 is out of range"):
        ops.softmax(a, 2)
    with pytest.raises(ValueError, match="dim -3 is out of range"):
        ops.log_softmax_backward(a, a, -3)
    with pytest.raises(TypeError):
        ops.relu(np.array(["x"]))
