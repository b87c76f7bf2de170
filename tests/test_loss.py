"""Cross-entropy and NLL: forward against the float64 reference under every ISA, backward by
finite differences, against PyTorch, and label / shape errors."""
import math

import numpy as np
import pytest

import ref_ops as ref
from cnnnative import ops
from ref_ops import nan_fill  # noqa: F401  (autouse: NaN-filled outputs)


@pytest.mark.parametrize("N,C", [(1, 1), (1, 10), (3, 7), (5, 16), (4, 17), (9, 1001), (2000, 10)])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_matches_reference(isa, rng, N, C, reduction):
    x = (rng.standard_normal((N, C)) * 3).astype(np.float32)
    t = rng.integers(0, C, N)
    got = ops.cross_entropy(x, t, reduction)
    want = ref.cross_entropy(x, t, reduction)
    # Per row: log-sum-exp over C terms in float32 (a few ulp of values ~ log C + |x|).
    if reduction == "none":
        assert got.shape == (N,) and got.dtype == np.float32
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    else:
        assert isinstance(got, float)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * (N if reduction == "sum" else 1))


def test_cross_entropy_large_logits_are_stable(isa):
    x = np.array([[1e4, -1e4, 0.0], [-3e4, -3e4, -3e4 + 1]], np.float32)
    t = np.array([1, 2])
    got = ops.cross_entropy(x, t, "none")
    np.testing.assert_allclose(got, ref.cross_entropy(x, t, "none"), rtol=1e-6)
    g = ops.cross_entropy_backward(x, t, "sum")
    assert np.all(np.isfinite(g))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_backward_finite_differences(isa, rng, reduction):
    N, C = 4, 5
    x = rng.standard_normal((N, C)) * 2
    t = rng.integers(0, C, N)
    if reduction == "none":
        w = rng.standard_normal(N)  # upstream gradient per sample
        f = lambda z: float(np.sum(ref.cross_entropy(z, t, "none") * w))  # noqa: E731
        dx = ops.cross_entropy_backward(x, t, "none", grad=w)
    else:
        f = lambda z: 1.7 * float(ref.cross_entropy(z, t, reduction))  # noqa: E731
        dx = ops.cross_entropy_backward(x, t, reduction, grad=1.7)
    num = ref.numeric_grad(f, x)
    assert np.abs(dx).max() > 0.05
    np.testing.assert_allclose(dx, num, rtol=1e-4, atol=1e-6)


def test_cross_entropy_matches_torch(rng):
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((13, 11)).astype(np.float32) * 4
    t = rng.integers(0, 11, 13)
    for reduction in ("mean", "sum"):
        xt = torch.from_numpy(x).requires_grad_()
        lt = torch.nn.functional.cross_entropy(xt, torch.from_numpy(t), reduction=reduction)
        lt.backward()
        assert ops.cross_entropy(x, t, reduction) == pytest.approx(lt.item(), rel=1e-5)
        np.testing.assert_allclose(ops.cross_entropy_backward(x, t, reduction), xt.grad.numpy(),
                                   rtol=1e-5, atol=1e-7)


def test_nll_loss_matches_log_softmax_cross_entropy(rng):
    x = rng.standard_normal((6, 9)).astype(np.float32)
    t = rng.integers(0, 9, 6)
    lp = ops.log_softmax(x, 1)
    for reduction in ("mean", "sum"):
        assert ops.nll_loss(lp, t, reduction) == pytest.approx(ops.cross_entropy(x, t, reduction), rel=1e-5)
    np.testing.assert_allclose(ops.nll_loss(lp, t, "none"), ops.cross_entropy(x, t, "none"), rtol=1e-5)
    g = ops.nll_loss_backward(lp, t, "mean")
    num = ref.numeric_grad(lambda z: float(np.mean(-z[np.arange(6), t])), lp)
    np.testing.assert_allclose(g, num, atol=1e-7)
    # Chain rule: d CE / d x = log_softmax_backward(d NLL / d lp).
    np.testing.assert_allclose(ops.log_softmax_backward(g, lp, 1), ops.cross_entropy_backward(x, t),
                               rtol=1e-5, atol=1e-7)


def test_loss_empty_batch():
    x = np.zeros((0, 4), np.float32)
    t = np.zeros(0, np.int64)
    assert math.isnan(ops.cross_entropy(x, t))
    assert ops.cross_entropy(x, t, "sum") == 0.0
    assert ops.cross_entropy(x, t, "none").shape == (0,)
    assert ops.cross_entropy_backward(x, t).shape == (0, 4)


def test_loss_converts_inputs(rng):
    x = rng.standard_normal((5, 12))[:, ::2]  # float64, non-contiguous
    t = np.array([0, 5, 3, 2, 1], np.int32)
    want = ops.cross_entropy(np.ascontiguousarray(x, np.float32), t.astype(np.int64))
    assert ops.cross_entropy(x, t) == want
    assert ops.cross_entropy(x, list(t)) == want


@pytest.mark.parametrize("fn", [ops.cross_entropy, ops.cross_entropy_backward, ops.nll_loss,
                                ops.nll_loss_backward])
def test_loss_bad_labels_and_shapes(fn):
    x = np.zeros((3, 4), np.float32)
    with pytest.raises(ValueError, match=r"target\[2\] = 4 is not a class index in \[0, 4\)"):
        fn(x, [0, 1, 4])
    with pytest.raises(ValueError, match=r"target\[0\] = -1"):
        fn(x, [-1, 1, 2])
    with pytest.raises(ValueError, match="target"):
        fn(x, [0, 1])
    with pytest.raises(TypeError, match="integer"):
        fn(x, [0.0, 1.0, 2.0])
    with pytest.raises(ValueError, match="reduction"):
        fn(x, [0, 1, 2], "avg")
    with pytest.raises(ValueError):
        fn(np.zeros((3,), np.float32), [0, 1, 2])
