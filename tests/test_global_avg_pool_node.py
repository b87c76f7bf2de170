"""The compiled global average pooling node (pool/global_avg_pool.h), under every ISA: the
same bits on every ISA (one summation order: 16 running sums, halved pairwise), the float64
mean within float32 rounding for plane sizes around the 16-lane steps (1, 15, 16, 17, 49,
196, ...), NaN and +-inf propagating as in a plain sum, a smaller batch than compiled for,
and many small planes (the squeeze-and-excitation shapes) split over threads."""
import numpy as np
import pytest

import cnnnative as cn
from cnnnative import _core, nn

SIZES = [(1, 1), (3, 5), (4, 4), (1, 17), (7, 7), (5, 9), (14, 14), (13, 13), (28, 28)]


def _sum16(x):
    """The engine's order in float32: value i into running sum i % 16, then halved pairwise."""
    flat = x.reshape(x.shape[0], x.shape[1], -1).astype(np.float32)
    lanes = np.zeros(flat.shape[:2] + (16,), np.float32)
    with np.errstate(invalid="ignore"):  # inf - inf
        for i in range(flat.shape[2]):
            lanes[..., i % 16] += flat[..., i]
        for width in (8, 4, 2, 1):
            lanes[..., :width] += lanes[..., width:2 * width]
    return lanes[..., 0] / np.float32(flat.shape[2])


def _pool(C, H, W, batch=2):
    return cn.compile(nn.AdaptiveAvgPool2d(1), (batch, C, H, W), poison=True)


@pytest.mark.parametrize("size", SIZES, ids=str)
def test_global_avg_pool_node_matches_reference(isa, rng, size):
    H, W = size
    x = rng.standard_normal((2, 5, H, W)).astype(np.float32) * 3 + 1
    got = np.asarray(_pool(5, H, W)(x)).reshape(2, 5)
    np.testing.assert_array_equal(got, _sum16(x))  # the documented order, bit for bit
    want = x.astype(np.float64).mean(axis=(2, 3))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_global_avg_pool_node_same_bits_on_every_isa(rng):
    x = rng.standard_normal((1, 96, 7, 7)).astype(np.float32)
    run = _pool(96, 7, 7, batch=1)
    before = _core.get_isa()
    try:
        outs = []
        for isa in _core.available_isas():
            _core.set_isa(isa)
            outs.append(np.asarray(run(x)))
    finally:
        _core.set_isa(before)
    for o in outs[1:]:
        np.testing.assert_array_equal(o, outs[0])


def test_global_avg_pool_node_nan_and_inf(isa, rng):
    x = rng.standard_normal((2, 6, 7, 7)).astype(np.float32)
    x[0, 0, 3, 3] = np.nan           # NaN anywhere in the plane
    x[0, 1, 6, 6] = np.nan           # ... in the masked tail (value 48 of 49)
    x[0, 2, 0, 5] = np.inf
    x[1, 3, 2, 2], x[1, 3, 4, 4] = np.inf, -np.inf  # inf - inf
    x[1, 4, 1, 1] = -np.inf
    got = np.asarray(_pool(6, 7, 7)(x)).reshape(2, 6)
    assert np.isnan(got[0, 0]) and np.isnan(got[0, 1]) and np.isnan(got[1, 3])
    assert got[0, 2] == np.inf and got[1, 4] == -np.inf
    finite = np.isfinite(x).all(axis=(2, 3))
    np.testing.assert_array_equal(got[finite], _sum16(x)[finite])


@pytest.mark.parametrize("shape", [(960, 7, 7), (600, 17, 17)], ids=str)  # one thread; a team
def test_global_avg_pool_node_many_planes_threads_and_smaller_batch(isa, rng, shape):
    C = shape[0]
    x = rng.standard_normal((2,) + shape).astype(np.float32)
    run = _pool(*shape)
    before = cn.get_num_threads()
    try:
        cn.set_num_threads(2)
        two = np.asarray(run(x))
        cn.set_num_threads(1)
        one = np.asarray(run(x))
    finally:
        cn.set_num_threads(before)
    np.testing.assert_array_equal(two, one)  # one order whatever the split
    np.testing.assert_array_equal(one.reshape(2, C), _sum16(x))
    np.testing.assert_array_equal(np.asarray(run(x[:1])).reshape(1, C), _sum16(x[:1]))
