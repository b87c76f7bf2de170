"""Dropout: reproducible masks from seeds, the drop rate, exact inverted scaling, backward
through the mask, and argument rules."""
import numpy as np
import pytest

from cnnnative import _core, ops
from ref_ops import nan_fill  # noqa: F401  (autouse: NaN-filled outputs)


def test_same_seed_same_mask_on_every_isa_and_thread_count(rng):
    x = rng.standard_normal((3, 7, 33, 17)).astype(np.float32)
    out0, mask0 = ops.dropout(x, 0.3, seed=1234, return_mask=True)
    before = _core.get_num_threads()
    try:
        for isa in _core.available_isas():
            _core.set_isa(isa)
            for threads in (1, 2):
                _core.set_num_threads(threads)
                out, mask = ops.dropout(x, 0.3, seed=1234, return_mask=True)
                np.testing.assert_array_equal(mask, mask0)
                np.testing.assert_array_equal(out, out0)
    finally:
        _core.set_num_threads(before)
    assert not np.array_equal(ops.dropout(x, 0.3, seed=1235, return_mask=True)[1], mask0)


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_rate_and_exact_scaling(isa, rng, p):
    n = 200_003
    x = rng.standard_normal(n).astype(np.float32)
    out, mask = ops.dropout(x, p, seed=7, return_mask=True)
    assert mask.dtype == np.uint8 and set(np.unique(mask)) <= {0, 1}
    # Binomial(n, 1-p): standard deviation sqrt(p(1-p)/n) < 0.0012; allow 5 of them.
    assert abs(mask.mean() - (1 - p)) < 5 * np.sqrt(p * (1 - p) / n)
    scale = np.float32(1) / np.float32(1 - p)  # PyTorch's scale, computed in float32
    np.testing.assert_array_equal(out[mask == 1], x[mask == 1] * scale)
    np.testing.assert_array_equal(out[mask == 0], 0)
    # Neighbouring elements are not correlated (the hash mixes the index well).
    m = mask.astype(np.float64) - mask.mean()
    assert abs(np.mean(m[1:] * m[:-1])) / m.var() < 0.02


def test_backward_uses_mask(isa, rng):
    x = rng.standard_normal((5, 40)).astype(np.float32)
    out, mask = ops.dropout(x, 0.25, seed=3, return_mask=True)
    g = rng.standard_normal(x.shape).astype(np.float32)
    dx = ops.dropout_backward(g, mask, 0.25)
    np.testing.assert_array_equal(dx, g * mask * (np.float32(1) / np.float32(0.75)))
    assert np.abs(dx).max() > 0
    # d out / d x is the same per-element factor: out = x * factor, dx = g * factor.
    factor = np.where(mask == 1, np.float32(1) / np.float32(0.75), np.float32(0))
    np.testing.assert_array_equal(out, x * factor)


def test_unseeded_calls_differ_and_set_seed_reproduces(rng):
    x = np.ones((64, 64), np.float32)
    a = ops.dropout(x, 0.5, return_mask=True)[1]
    b = ops.dropout(x, 0.5, return_mask=True)[1]
    assert not np.array_equal(a, b)
    ops.set_dropout_seed(99)
    c = ops.dropout(x, 0.5, return_mask=True)[1]
    ops.set_dropout_seed(99)
    np.testing.assert_array_equal(ops.dropout(x, 0.5, return_mask=True)[1], c)


def test_identity_cases_and_bad_p(rng):
    x = rng.standard_normal((4, 5)).astype(np.float32)
    assert ops.dropout(x, 0.0) is x or np.array_equal(ops.dropout(x, 0.0), x)
    np.testing.assert_array_equal(ops.dropout(x, 0.7, training=False), x)
    out, mask = ops.dropout(x, 0.7, training=False, return_mask=True)
    np.testing.assert_array_equal(mask, 1)
    for p in (-0.1, 1.0, 1.5, float("nan")):
        with pytest.raises(ValueError, match=r"p must be in \[0, 1\)"):
            ops.dropout(x, p)
    with pytest.raises(ValueError, match="mask has shape"):
        ops.dropout_backward(x, np.ones((5, 4), np.uint8), 0.5)
    assert ops.dropout(np.zeros((0, 3), np.float32), 0.5).shape == (0, 3)
    # float64 / non-contiguous input is converted; same mask as its float32 copy.
    xd = rng.standard_normal((6, 10))[:, ::2]
    np.testing.assert_array_equal(ops.dropout(xd, 0.5, seed=1),
                                  ops.dropout(np.ascontiguousarray(xd, np.float32), 0.5, seed=1))
