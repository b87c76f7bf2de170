"""The separable 3x3 / stride-1 / padding-1 average pooling (pool/avg_pool_same3.h, Inception's
branch pools), eager and compiled, against a float64 reference under every ISA: odd and
degenerate plane sizes (1xN, Nx1, 2x2, 17x17), batch 1 and 3, both count_include_pad
settings, ceil mode, NaN and infinities (which must stay inside their windows), signed
zeros, and bits that depend neither on the ISA nor on the thread count.
"""
import numpy as np
import pytest

import cnnnative as cn
from cnnnative import _core, nn, ops


def _reference(x, count_include_pad):
    """3x3 windows, stride 1, zero padding 1, in float64: sum / 9 or sum / (input taps)."""
    H, W = x.shape[2:]
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (1, 1), (1, 1)))
    total = sum(xp[:, :, r:r + H, c:c + W] for r in range(3) for c in range(3))
    if count_include_pad:
        return total / 9.0
    ones = np.pad(np.ones((H, W)), 1)
    return total / sum(ones[r:r + H, c:c + W] for r in range(3) for c in range(3))


SHAPES = [(1, 3, 1, 1), (3, 5, 1, 7), (1, 4, 6, 1), (3, 3, 2, 2), (1, 7, 17, 17), (3, 2, 8, 8),
          (1, 17, 9, 13), (3, 4, 35, 3)]


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("count_include_pad", [True, False])
def test_matches_float64_reference(isa, rng, shape, count_include_pad):
    x = rng.standard_normal(shape).astype(np.float32)
    want = _reference(x, count_include_pad)
    for ceil in (False, True):  # ceil mode changes nothing at stride 1
        got = ops.avg_pool2d(x, 3, 1, 1, ceil_mode=ceil, count_include_pad=count_include_pad)
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=3e-7)
    compiled = cn.compile(nn.Sequential(nn.AvgPool2d(3, 1, 1, count_include_pad=count_include_pad)), shape)
    np.testing.assert_array_equal(compiled(x), got)


def test_nan_and_infinity_stay_in_their_windows(isa):
    x = np.zeros((2, 3, 9, 11), np.float32)
    x[0, 0, 4, 5] = np.nan
    x[0, 1, 0, 0] = np.inf
    x[0, 2, 8, 10] = -np.inf
    x[1, 0, 3, 3], x[1, 0, 3, 4] = np.inf, -np.inf  # opposite infinities in shared windows
    for cip in (True, False):
        y = ops.avg_pool2d(x, 3, 1, 1, count_include_pad=cip)
        want = _reference(np.where(np.isfinite(x), x, 0), cip).astype(np.float32)
        want[0, 0, 3:6, 4:7] = np.nan
        want[0, 1, 0:2, 0:2] = np.inf
        want[0, 2, 7:9, 9:11] = -np.inf
        want[1, 0, 2:5, 2:4] = np.inf  # windows that hold only the +inf
        want[1, 0, 2:5, 5] = -np.inf
        want[1, 0, 2:5, 3:5] = np.nan  # windows that hold both
        np.testing.assert_array_equal(y, want)
        # nothing leaks across rows, planes or images
        assert np.isfinite(y[0, 0, [0, 1, 2, 6, 7, 8]]).all() and np.isfinite(y[0, 0, :, [0, 1, 2, 3, 7, 8, 9, 10]]).all()


def test_zeros_and_signed_zeros(isa):
    x = np.full((1, 2, 5, 6), -0.0, np.float32)
    for cip in (True, False):
        y = ops.avg_pool2d(x, 3, 1, 1, count_include_pad=cip)
        assert not np.signbit(y).any()  # the sum starts from +0, as PyTorch's does


def test_bits_independent_of_isa_and_threads(rng):
    x = rng.standard_normal((2, 120, 17, 17)).astype(np.float32) * 100  # enough for a team of 3
    x.reshape(-1)[::53] = np.nan
    results = []
    before_isa, before_threads = _core.get_isa(), cn.get_num_threads()
    try:
        for isa_name in _core.available_isas():
            _core.set_isa(isa_name)
            for threads in (1, 2, 3):
                cn.set_num_threads(threads)
                results.append(ops.avg_pool2d(x, 3, 1, 1))
    finally:
        _core.set_isa(before_isa)
        cn.set_num_threads(before_threads)
    for r in results[1:]:
        np.testing.assert_array_equal(r, results[0])


def test_close_to_the_row_major_kernels(rng):
    """Within float rounding of the per-plane kernel (which adds the taps in row-major
    order; this kernel adds them column by column)."""
    x = rng.standard_normal((2, 20, 13, 19)).astype(np.float32)
    for cip in (True, False):
        fast = ops.avg_pool2d(x, 3, 1, 1, count_include_pad=cip)
        _core._force_pool_layout("planes")
        try:
            planes = ops.avg_pool2d(x, 3, 1, 1, count_include_pad=cip)
        finally:
            _core._force_pool_layout("auto")
        np.testing.assert_allclose(fast, planes, rtol=1e-6, atol=3e-7)


def test_matches_torch(rng):
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((2, 9, 17, 17)).astype(np.float32)
    for cip in (True, False):
        want = torch.nn.functional.avg_pool2d(torch.from_numpy(x), 3, 1, 1, count_include_pad=cip).numpy()
        np.testing.assert_allclose(ops.avg_pool2d(x, 3, 1, 1, count_include_pad=cip), want, rtol=1e-6, atol=3e-7)
