"""Kernels whose parallel regions moved from OpenMP onto the library's thread team: the same
results on 1 and 2 threads. Where each output is computed by one member alone the results
are bit-identical; where members' partial sums are added (PReLU's slope gradient, the 3-D
weight gradient) they agree to rounding and are the same on every call.

Sizes are just above each kernel's threshold for opening a team, so 2 threads really split
the work.
"""
import numpy as np
import pytest

import cnnnative as cn
from cnnnative import ops
from thread_count import on_threads




@pytest.mark.parametrize("shape", [(4, 8, 48, 48), (16384, 8)])
def test_prelu_slope_gradient_on_two_threads_matches_float64(rng, shape):
    # 73,728 and 131,072 elements: members of at least 32K each, each keeping its own row
    # of per-channel partial sums ((N, C) adds one element at a time: the case where two
    # members sharing a row would lose updates).
    x = rng.standard_normal(shape).astype(np.float32)
    g = rng.standard_normal(x.shape).astype(np.float32)
    w = rng.uniform(0.05, 0.5, 8).astype(np.float32)
    axes = tuple(a for a in range(x.ndim) if a != 1)
    gw_ref = (np.where(x < 0, x, 0).astype(np.float64) * g).sum(axis=axes)
    one = on_threads(1, lambda: ops.prelu_backward(g, x, w))
    for _ in range(5):
        two = on_threads(2, lambda: ops.prelu_backward(g, x, w))
        np.testing.assert_array_equal(two[0], one[0])
        np.testing.assert_allclose(two[1], gw_ref, rtol=1e-5, atol=1e-4)
        np.testing.assert_allclose(two[1], one[1], rtol=1e-6, atol=1e-5)


def test_local_response_norm_is_bit_identical_on_one_and_two_threads(rng):
    x = rng.standard_normal((2, 16, 48, 48)).astype(np.float32)
    g = rng.standard_normal(x.shape).astype(np.float32)
    run = lambda: (ops.local_response_norm(x, 5), ops.local_response_norm_backward(g, x, 5))  # noqa: E731
    one, two = on_threads(1, run), on_threads(2, run)
    np.testing.assert_array_equal(two[0], one[0])
    np.testing.assert_array_equal(two[1], one[1])


def test_conv_with_nonfinite_inputs_is_bit_identical_on_one_and_two_threads(rng):
    # The NaN/inf fallback (conv/nonfinite.cc): the finiteness scan and the per-row
    # recomputation both run on the team.
    x = rng.standard_normal((2, 8, 96, 96)).astype(np.float32)
    x[0, 3, 10, 20] = np.nan
    x[1, 5, 40, 41] = np.inf
    w = rng.standard_normal((8, 8, 3, 3)).astype(np.float32)
    one = on_threads(1, lambda: ops.conv2d(x, w, padding=1))
    two = on_threads(2, lambda: ops.conv2d(x, w, padding=1))
    assert np.isnan(one).any() and np.isinf(one).any()
    np.testing.assert_array_equal(two, one)


@pytest.mark.parametrize("groups", [1, 8])
def test_conv3d_forward_is_bit_identical_and_weight_gradient_stable(rng, groups):
    # groups=8 on 8 channels is depthwise (conv/depthwise3d.cc); groups=1 is vol2col + GEMM
    # or the direct kernel.
    x = rng.standard_normal((2, 8, 10, 12, 12)).astype(np.float32)
    w = rng.standard_normal((8, 8 // groups, 3, 3, 3)).astype(np.float32)
    dy = rng.standard_normal((2, 8, 10, 12, 12)).astype(np.float32)
    fwd = lambda: ops.conv3d(x, w, padding=1, groups=groups)  # noqa: E731
    np.testing.assert_array_equal(on_threads(2, fwd), on_threads(1, fwd))
    wgrad = lambda: ops.conv3d_weight(x, w.shape, dy, padding=1, groups=groups)  # noqa: E731
    one = on_threads(1, wgrad)
    two = [on_threads(2, wgrad) for _ in range(3)]
    for t in two[1:]:
        np.testing.assert_array_equal(t, two[0])
    np.testing.assert_allclose(two[0], one, rtol=1e-4, atol=1e-3)


def _gradient(fn, x):
    t = cn.Tensor(x.copy(), requires_grad=True)
    y = fn(t)
    (y * y).sum().backward()
    return np.asarray(t.grad)


# Ops whose kernels split their items over the team with parallel_for (act/parallel.h), which
# the busy-machine back-off may run on the caller alone: forward and gradient must be the
# same bits whatever the split. Sizes above each kernel's threshold for opening a team.
_X4 = np.random.default_rng(1).standard_normal((3, 37, 45, 47)).astype(np.float32)
_X2 = np.random.default_rng(2).standard_normal((513, 1001)).astype(np.float32)
_X5 = np.random.default_rng(3).standard_normal((2, 9, 13, 17, 19)).astype(np.float32)
_TARGET = np.random.default_rng(4).integers(0, 1001, 513)
_SPLIT_OPS = {
    "max_pool2d": (lambda x: ops.max_pool2d(x, 3, 2, 1), _X4),
    "avg_pool2d": (lambda x: ops.avg_pool2d(x, 3, 2, 1), _X4),
    "avg_pool2d 3x3/1": (lambda x: ops.avg_pool2d(x, 3, 1, 1), _X4),
    "adaptive_avg_pool2d": (lambda x: ops.adaptive_avg_pool2d(x, (5, 7)), _X4),
    "adaptive_max_pool2d": (lambda x: ops.adaptive_max_pool2d(x, (5, 7)), _X4),
    "max_pool3d": (lambda x: ops.max_pool3d(x, 3, 2, 1), _X5),
    "avg_pool3d": (lambda x: ops.avg_pool3d(x, 3, 2, 1), _X5),
    "softmax": (lambda x: ops.softmax(x, 1), _X2),
    "log_softmax": (lambda x: ops.log_softmax(x, 1), _X2),
    "cross_entropy": (lambda x: ops.cross_entropy(x, _TARGET), _X2),
    "pad reflect": (lambda x: ops.pad(x, (2, 3, 1, 4), "reflect"), _X4),
    "interpolate bilinear": (lambda x: ops.interpolate(x, scale_factor=2, mode="bilinear"), _X4),
    "tanh": (ops.tanh, _X4),
    "gelu": (ops.gelu, _X4),
    "hardswish": (ops.hardswish, _X4),
}


@pytest.mark.parametrize("name", sorted(_SPLIT_OPS))
def test_item_parallel_ops_give_the_same_bits_on_any_split(isa, name):
    fn, x = _SPLIT_OPS[name]
    one = on_threads(1, lambda: (np.asarray(fn(x)), _gradient(fn, x)))
    two = on_threads(2, lambda: (np.asarray(fn(x)), _gradient(fn, x)))
    np.testing.assert_array_equal(two[0], one[0])
    np.testing.assert_array_equal(two[1], one[1])
