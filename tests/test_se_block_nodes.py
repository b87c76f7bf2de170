"""MobileNet-v3's squeeze-and-excitation block compiled (global average pool, 1x1 convs with
ReLU and Hardsigmoid, the channel scale in place) at the sizes whose SE nodes now stay on one
thread (7x7, 14x14 maps) and one whose scale takes the team: eager mode within float32
tolerance, one thread and two give the same bits, odd channel counts, every ISA, and a NaN in
one channel's map reaching every channel (through the pooled gate) as in eager mode."""
import numpy as np
import pytest

import cnnnative as cn
from cnnnative import nn
from thread_count import on_threads


def _block(C):
    nn.init.manual_seed(0)
    m = nn.Sequential(nn.Hardswish(), nn.SqueezeExcitation(C, max(8, C // 4), scale_activation=nn.Hardsigmoid))
    m.eval()
    return m


def _run(m, x, threads):
    return on_threads(threads, lambda: np.asarray(cn.compile(m, x.shape, poison=True)(x)))


@pytest.mark.parametrize("shape", [(96, 7, 7), (37, 14, 14), (120, 28, 28), (200, 33, 33)], ids=str)
def test_se_block_matches_eager_on_any_team(isa, rng, shape):
    m = _block(shape[0])
    x = rng.standard_normal((1,) + shape).astype(np.float32) * 2
    with cn.no_grad():
        want = np.asarray(m(x))
    one, two = _run(m, x, 1), _run(m, x, 2)
    np.testing.assert_array_equal(two, one)
    np.testing.assert_allclose(one, want, rtol=1e-4, atol=1e-5)


def test_se_block_nan_reaches_every_channel(isa, rng):
    m = _block(48)
    x = rng.standard_normal((1, 48, 7, 7)).astype(np.float32)
    x[0, 5, 3, 3] = np.nan
    with cn.no_grad():
        want = np.asarray(m(x))
    got = _run(m, x, 1)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    assert np.isnan(got).all()
