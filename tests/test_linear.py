"""linear: forward and all three gradients against float64 numpy, finite differences, torch."""
import numpy as np
import pytest

import ref_ops as ref
from cnnnative import ops
from ref_ops import nan_fill  # noqa: F401  (autouse: NaN-filled outputs)


@pytest.mark.parametrize("N,IN,OUT", [(1, 1, 1), (1, 17, 3), (5, 7, 16), (3, 16, 17), (13, 31, 10),
                                      (64, 100, 33)])
@pytest.mark.parametrize("with_bias", [True, False])
def test_linear_matches_reference(isa, rng, N, IN, OUT, with_bias):
    x = rng.standard_normal((N, IN)).astype(np.float32)
    w = rng.standard_normal((OUT, IN)).astype(np.float32)
    b = rng.standard_normal(OUT).astype(np.float32) if with_bias else None
    y = ops.linear(x, w, b)
    want = x.astype(np.float64) @ w.T.astype(np.float64) + (b if with_bias else 0)
    tol = 1e-6 * IN * 4  # a float32 dot product of IN terms of size ~1
    np.testing.assert_allclose(y, want, rtol=0, atol=tol)
    g = rng.standard_normal((N, OUT)).astype(np.float32)
    gx, gw, gb = ops.linear_backward(g, x, w, need_bias=with_bias)
    g64 = g.astype(np.float64)
    np.testing.assert_allclose(gx, g64 @ w, rtol=0, atol=1e-6 * OUT * 4)
    np.testing.assert_allclose(gw, g64.T @ x, rtol=0, atol=1e-6 * N * 4)
    if with_bias:
        np.testing.assert_allclose(gb, g64.sum(axis=0), rtol=0, atol=1e-6 * N * 4)
    else:
        assert gb is None


def test_linear_backward_finite_differences(rng):
    x = rng.standard_normal((3, 4))
    w = rng.standard_normal((5, 4))
    b = rng.standard_normal(5)
    g = rng.standard_normal((3, 5))
    gx, gw, gb = ops.linear_backward(g, x, w)
    f = lambda xx, ww, bb: float(np.sum((xx @ ww.T + bb) * g))  # noqa: E731
    for got, num in [(gx, ref.numeric_grad(lambda z: f(z, w, b), x)),
                     (gw, ref.numeric_grad(lambda z: f(x, z, b), w)),
                     (gb, ref.numeric_grad(lambda z: f(x, w, z), b))]:
        assert np.abs(got).max() > 0.1
        np.testing.assert_allclose(got, num, rtol=1e-4, atol=1e-5)


def test_linear_leading_dims_and_torch(rng):
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((2, 3, 6)).astype(np.float32)
    w = rng.standard_normal((4, 6)).astype(np.float32)
    b = rng.standard_normal(4).astype(np.float32)
    xt, wt, bt = (torch.from_numpy(a).requires_grad_() for a in (x, w, b))
    yt = torch.nn.functional.linear(xt, wt, bt)
    g = rng.standard_normal(tuple(yt.shape)).astype(np.float32)
    yt.backward(torch.from_numpy(g))
    y = ops.linear(x, w, b)
    assert y.shape == (2, 3, 4)
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-5, atol=1e-5)
    gx, gw, gb = ops.linear_backward(g, x, w)
    assert gx.shape == x.shape
    for got, want in [(gx, xt.grad), (gw, wt.grad), (gb, bt.grad)]:
        np.testing.assert_allclose(got, want.numpy(), rtol=1e-5, atol=1e-5)
    assert ops.linear(x[0, 0], w, b).shape == (4,)


def test_linear_empty_batch_and_conversions(rng):
    w = rng.standard_normal((4, 6)).astype(np.float32)
    x0 = np.zeros((0, 6), np.float32)
    assert ops.linear(x0, w).shape == (0, 4)
    gx, gw, gb = ops.linear_backward(np.zeros((0, 4), np.float32), x0, w)
    assert gx.shape == (0, 6)
    np.testing.assert_array_equal(gw, 0)   # empty sum: zeros, not NaN-filled memory
    np.testing.assert_array_equal(gb, 0)
    x = rng.standard_normal((5, 12))[:, ::2]
    np.testing.assert_array_equal(ops.linear(x, w), ops.linear(np.ascontiguousarray(x, np.float32), w))


def test_linear_bad_inputs():
    x = np.zeros((2, 3), np.float32)
    with pytest.raises(ValueError, match="input has 3 features"):
        ops.linear(x, np.zeros((4, 5), np.float32))
    with pytest.raises(ValueError, match=r"bias must have shape \(4,\)"):
        ops.linear(x, np.zeros((4, 3), np.float32), np.zeros(3, np.float32))
    with pytest.raises(ValueError, match="weight must be 2-D"):
        ops.linear(x, np.zeros(3, np.float32))
    with pytest.raises(ValueError, match="grad_output has shape"):
        ops.linear_backward(np.zeros((2, 5), np.float32), x, np.zeros((4, 3), np.float32))
