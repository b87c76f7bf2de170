"""Pooling beyond 2-D max/avg (issue 13, items 5 and 6): cross-channel pooling (Maxout,
ChannelAvgPool), MaxPool1d/3d, AvgPool1d/3d, adaptive pooling of any output size,
GlobalMaxPool2d, LPPool1d/2d, MaxUnpool1d/2d, Flatten/Unflatten.

Each op against a float64 numpy reference under every ISA (outputs NaN-prefilled), odd
sizes, batch 1 and > 1, NaN inputs; forward and backward against torch for every layer and
the options that change results (ceil_mode, count_include_pad, non-divisible adaptive
sizes); central differences; bad arguments; compile."""
import itertools

import numpy as np
import pytest

import cnnnative as cn
from cnnnative import nn, ops
from cnnnative.nn import functional as CF
from ref_ops import _first_tap, _taps, nan_fill, pool_out_size  # noqa: F401  (nan_fill: autouse)


def _rand(rng, shape, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


# --- float64 references ----------------------------------------------------------------------

def ref_pool3d(x, k, s, p, d, ceil_mode, kind, count_include_pad=True):
    """(out, indices) of max (kind "max": first maximum in (d, h, w) order, the last NaN wins)
    or the average (kind "avg") over NCDHW, loops over output positions."""
    x = np.asarray(x, np.float64)
    N, C, D, H, W = x.shape
    outs = [pool_out_size(n, kk, ss, pp, dd, ceil_mode) for n, kk, ss, pp, dd in zip((D, H, W), k, s, p, d)]
    out = np.zeros((N, C, *outs))
    idx = np.zeros((N, C, *outs), np.int64)
    flat = x.reshape(N, C, -1)
    for o in itertools.product(*(range(n) for n in outs)):
        if kind == "max":
            taps = [_taps(oo, ss, pp, dd, kk, n) for oo, ss, pp, dd, kk, n in zip(o, s, p, d, k, (D, H, W))]
            cells = [(a * H + b) * W + c for a in taps[0] for b in taps[1] for c in taps[2]]
            best = np.full((N, C), -np.inf)
            first = [_first_tap(oo * ss - pp, dd) for oo, ss, pp, dd in zip(o, s, p, d)]
            arg = np.full((N, C), (first[0] * H + first[1]) * W + first[2])
            for f in cells:
                v = flat[:, :, f]
                take = (v > best) | np.isnan(v)
                best, arg = np.where(take, v, best), np.where(take, f, arg)
            out[(slice(None), slice(None)) + o], idx[(slice(None), slice(None)) + o] = best, arg
        else:
            lo = [oo * ss - pp for oo, ss, pp in zip(o, s, p)]
            hi = [min(a + kk, n + pp) for a, kk, n, pp in zip(lo, k, (D, H, W), p)]
            real = [(max(a, 0), min(b, n)) for a, b, n in zip(lo, hi, (D, H, W))]
            window = x[:, :, real[0][0]:real[0][1], real[1][0]:real[1][1], real[2][0]:real[2][1]]
            div = np.prod([b - a for a, b in zip(lo, hi)]) if count_include_pad else window[0, 0].size
            out[(slice(None), slice(None)) + o] = window.sum(axis=(2, 3, 4)) / div
    return out, idx


def _span(i, n, out):
    return (i * n) // out, -(-((i + 1) * n) // out)


def ref_adaptive(x, sizes, kind):
    """(out, indices) of adaptive pooling over the last len(sizes) dimensions, float64."""
    x = np.asarray(x, np.float64)
    dims = len(sizes)
    spatial = x.shape[-dims:]
    lead = x.shape[:-dims]
    out = np.zeros(lead + tuple(sizes))
    idx = np.zeros(lead + tuple(sizes), np.int64)
    flat = x.reshape(lead + (-1,))
    strides = [int(np.prod(spatial[a + 1:])) for a in range(dims)]
    for o in itertools.product(*(range(n) for n in sizes)):
        spans = [_span(oo, n, m) for oo, n, m in zip(o, spatial, sizes)]
        cells = [sum(c * st for c, st in zip(cell, strides))
                 for cell in itertools.product(*(range(a, b) for a, b in spans))]
        at = (Ellipsis,) + o
        if kind == "avg":
            out[at] = flat[..., cells].mean(axis=-1)
        else:
            best, arg = np.full(lead, -np.inf), np.full(lead, cells[0])
            for f in cells:
                v = flat[..., f]
                take = (v > best) | np.isnan(v)
                best, arg = np.where(take, v, best), np.where(take, f, arg)
            out[at], idx[at] = best, arg
    return out, idx


def ref_channels(x, k, kind):
    """(out, pieces): max (first maximum, first NaN) or mean over groups of k channels."""
    x = np.asarray(x, np.float64)
    g = x.reshape(x.shape[0], x.shape[1] // k, k, *x.shape[2:])
    if kind == "avg":
        return g.mean(axis=2), None
    return g.max(axis=2), np.argmax(g, axis=2)  # np.argmax: first max, first NaN


# --- cross-channel pooling -------------------------------------------------------------------

CHANNEL_CASES = [((1, 4, 5, 7), 2), ((3, 12, 3, 3), 3), ((2, 6), 3), ((2, 8, 1000), 4), ((1, 6, 9000), 6),
                 ((2, 5, 3), 1), ((2, 4, 2, 3), 4)]


@pytest.mark.parametrize("shape,k", CHANNEL_CASES)
def test_channel_pooling_matches_float64_reference(shape, k, rng, isa):
    x = _rand(rng, shape)
    x.reshape(-1)[::7] = x.reshape(-1)[1::7]  # ties: the first maximum wins
    y, pieces = ops.max_pool_channels(x, k, return_indices=True)
    want, want_pieces = ref_channels(x, k, "max")
    np.testing.assert_array_equal(y, want.astype(np.float32))
    np.testing.assert_array_equal(pieces, want_pieces)
    g = _rand(rng, y.shape)
    gx = ops.max_pool_channels_backward(g, pieces, shape, k)
    onehot = np.arange(k).reshape((1, 1, k) + (1,) * (len(shape) - 2)) == want_pieces[:, :, None]
    np.testing.assert_array_equal(gx, (onehot * g[:, :, None]).reshape(shape))
    np.testing.assert_allclose(ops.avg_pool_channels(x, k), ref_channels(x, k, "avg")[0], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(ops.avg_pool_channels_backward(g, shape, k),
                               np.repeat(g[:, :, None] / k, k, axis=2).reshape(shape), rtol=1e-6)


def test_channel_max_propagates_nan_and_sends_the_gradient_to_the_first_nan(rng, isa):
    x = _rand(rng, (2, 6, 3, 17))
    x[0, 1, 0, 0] = np.nan
    x[0, 2, 0, 0] = np.nan
    x[1, 3, 2, 16] = np.nan
    y, pieces = ops.max_pool_channels(x, 3, return_indices=True)
    assert np.isnan(y[0, 0, 0, 0]) and pieces[0, 0, 0, 0] == 1
    assert np.isnan(y[1, 1, 2, 16]) and pieces[1, 1, 2, 16] == 0
    assert np.isfinite(np.delete(y.reshape(-1), [0, y[0].size + 1 * 51 + 2 * 17 + 16])).all()
    assert np.isnan(ops.avg_pool_channels(x, 3)[0, 0, 0, 0])


def test_maxout_layer_trains_through_linear_and_conv(rng):
    lin = nn.Sequential(nn.Linear(5, 12), nn.Maxout(4))
    x = cn.Tensor(_rand(rng, (3, 5)))
    y = lin(x)
    assert y.shape == (3, 3)
    y.sum().backward()
    assert np.abs(lin[0].weight.grad).max() > 0
    assert nn.Maxout(4).output_shape((12, 5, 5)) == (3, 5, 5)
    assert nn.ChannelAvgPool(2).output_shape((6,)) == (3,)


@pytest.mark.parametrize("bad", [
    lambda: ops.max_pool_channels(np.zeros((2, 10, 3), np.float32), 3),
    lambda: ops.avg_pool_channels(np.zeros((2, 10, 3), np.float32), 3),
    lambda: nn.Maxout(3)(np.zeros((2, 10, 3), np.float32)),
    lambda: nn.ChannelAvgPool(3)(np.zeros((2, 10), np.float32)),
])
def test_channel_pooling_names_k_and_channels_when_k_does_not_divide(bad):
    with pytest.raises(ValueError, match=r"3.*10|10.*3"):
        bad()


def test_channel_pooling_bad_arguments():
    with pytest.raises(ValueError, match="pieces"):
        nn.Maxout(0)
    with pytest.raises(ValueError, match="kernel_size"):
        ops.max_pool_channels(np.zeros((2, 4), np.float32), 0)
    with pytest.raises(ValueError, match="not a piece"):
        ops.max_pool_channels_backward(np.ones((1, 2), np.float32), np.full((1, 2), 5, np.int32), (1, 4), 2)
    with pytest.raises(ValueError, match="grad_output"):
        ops.avg_pool_channels_backward(np.ones((1, 3), np.float32), (1, 4), 2)


# --- 3-D and 1-D pooling ---------------------------------------------------------------------

# (shape, kernel, stride, padding, dilation, ceil_mode)
POOL3D = [
    ((1, 2, 4, 6, 8), 2, None, 0, 1, False),                   # the plain 2x2x2
    ((2, 3, 5, 7, 9), 2, None, 0, 1, False),                   # 2x2x2 with odd sizes (last slice dropped)
    ((2, 3, 5, 7, 9), 2, None, 0, 1, True),                    # ceil: partial windows
    ((1, 2, 5, 6, 7), 3, 2, 1, 1, True),
    ((2, 1, 6, 5, 11), (2, 3, 1), (1, 2, 3), (1, 1, 0), (2, 1, 1), False),
    ((1, 3, 3, 4, 37), (1, 2, 3), (1, 1, 2), (0, 1, 1), 1, True),
]


@pytest.mark.parametrize("case", POOL3D)
def test_pool3d_matches_float64_reference(case, rng, isa):
    shape, k, s, p, d, ceil = case
    tri = lambda v: v if isinstance(v, tuple) else (v,) * 3  # noqa: E731
    x = _rand(rng, shape)
    y, idx = ops.max_pool3d(x, k, s, p, d, ceil, return_indices=True)
    want, want_idx = ref_pool3d(x, tri(k), tri(k if s is None else s), tri(p), tri(d), ceil, "max")
    np.testing.assert_array_equal(y, want.astype(np.float32))
    np.testing.assert_array_equal(idx, want_idx)
    g = _rand(rng, y.shape)
    gx = ops.max_pool3d_backward(g, idx, shape)
    ref_gx = np.zeros((shape[0] * shape[1], int(np.prod(shape[2:]))))
    for plane, (gg, ii) in enumerate(zip(g.reshape(len(ref_gx), -1), idx.reshape(len(ref_gx), -1))):
        np.add.at(ref_gx[plane], ii, gg)
    np.testing.assert_allclose(gx, ref_gx.reshape(shape), rtol=1e-6, atol=1e-6)
    if d == 1:
        for cip in (True, False):
            ya = ops.avg_pool3d(x, k, s, p, ceil, cip)
            want_a, _ = ref_pool3d(x, tri(k), tri(k if s is None else s), tri(p), (1, 1, 1), ceil, "avg", cip)
            np.testing.assert_allclose(ya, want_a, rtol=1e-5, atol=1e-6)


def test_max_pool3d_nan_wins_and_unbatched(rng, isa):
    x = _rand(rng, (2, 4, 6, 6))
    x[1, 1, 0, 1] = np.nan
    y, idx = ops.max_pool3d(x, 2, return_indices=True)
    assert y.shape == (2, 2, 3, 3) and np.isnan(y[1, 0, 0, 0]) and idx[1, 0, 0, 0] == 1 * 36 + 0 * 6 + 1
    assert np.isnan(ops.max_pool3d(x, 3, 1, 1)).sum() > 1
    assert ops.avg_pool3d(x, 2).shape == (2, 2, 3, 3)


@pytest.mark.parametrize("shape,k,s,p,d,ceil", [((2, 3, 11), 3, 2, 1, 1, True), ((1, 2, 8), 2, None, 0, 1, False),
                                                 ((3, 2, 10), 3, 1, 1, 2, False), ((4, 9), 4, 3, 2, 1, True)])
def test_pool1d_is_the_height_one_2d_pool(shape, k, s, p, d, ceil, rng, isa):
    x = _rand(rng, shape)
    y, idx = ops.max_pool1d(x, k, s, p, d, ceil, return_indices=True)
    x4 = x[..., None, :]
    y4, idx4 = ops.max_pool2d(x4, (1, k), (1, k if s is None else s), (0, p), (1, d), ceil, return_indices=True)
    np.testing.assert_array_equal(y, y4[..., 0, :])
    np.testing.assert_array_equal(idx, idx4[..., 0, :])
    ya = ops.avg_pool1d(x, k, s, p, ceil, False)
    np.testing.assert_array_equal(ya, ops.avg_pool2d(x4, (1, k), (1, k if s is None else s), (0, p), ceil,
                                                     False)[..., 0, :])


# --- adaptive pooling ------------------------------------------------------------------------

ADAPTIVE = [((2, 3, 10), (3,)), ((1, 2, 7), (7,)), ((1, 2, 5), (8,)), ((2, 3, 7, 5), (3, 4)), ((1, 4, 14, 14), (7, 7)),
            ((2, 2, 9, 6), (1, 1)), ((1, 2, 5, 7, 6), (2, 3, 4)), ((2, 3, 6, 5), (6, 5)), ((3, 13, 11), (5, 4))]


@pytest.mark.parametrize("shape,sizes", ADAPTIVE)
def test_adaptive_pooling_matches_float64_reference(shape, sizes, rng, isa):
    dims = len(sizes)
    x = _rand(rng, shape)
    avg = getattr(ops, f"adaptive_avg_pool{dims}d")
    mx = getattr(ops, f"adaptive_max_pool{dims}d")
    ref_avg, _ = ref_adaptive(x, sizes, "avg")
    np.testing.assert_allclose(avg(x, sizes), ref_avg, rtol=1e-5, atol=1e-6)
    y, idx = mx(x, sizes, return_indices=True)
    ref_max, ref_idx = ref_adaptive(x, sizes, "max")
    np.testing.assert_array_equal(y, ref_max.astype(np.float32))
    np.testing.assert_array_equal(idx, ref_idx)
    if len(shape) == dims + 2:
        g = _rand(rng, y.shape)
        gx = ops.adaptive_max_pool_backward(g, idx, shape)
        ref_gx = np.zeros((shape[0] * shape[1], int(np.prod(shape[2:]))))
        for plane, (gg, ii) in enumerate(zip(g.reshape(len(ref_gx), -1), idx.reshape(len(ref_gx), -1))):
            np.add.at(ref_gx[plane], ii, gg)
        np.testing.assert_allclose(gx, ref_gx.reshape(shape), rtol=1e-6, atol=1e-6)
        assert ops.adaptive_avg_pool_backward(g, shape).shape == shape


def test_adaptive_none_keeps_the_input_size_and_nan_propagates(rng, isa):
    x = _rand(rng, (2, 3, 7, 5))
    np.testing.assert_allclose(ops.adaptive_avg_pool2d(x, (None, 2)), ops.adaptive_avg_pool2d(x, (7, 2)))
    assert nn.AdaptiveMaxPool2d((3, None))(x).shape == (2, 3, 3, 5)
    x[0, 0, 3, 2] = np.nan
    y, idx = ops.adaptive_max_pool2d(x, 3, return_indices=True)
    assert np.isnan(y[0, 0, 1, 1]) and idx[0, 0, 1, 1] == 3 * 5 + 2
    assert np.isnan(ops.adaptive_avg_pool2d(x, 3)[0, 0, 1, 1])
    g = nn.GlobalMaxPool2d()(x)
    assert g.shape == (2, 3, 1, 1) and np.isnan(g[0, 0, 0, 0])
    np.testing.assert_array_equal(g[1], x[1].max(axis=(1, 2), keepdims=True))


@pytest.mark.parametrize("size", [0, -1, (2, 0), (3, -2)])
def test_adaptive_output_sizes_must_be_positive(size):
    x = np.zeros((1, 2, 5, 5), np.float32)
    with pytest.raises(ValueError, match="output_size"):
        ops.adaptive_avg_pool2d(x, size)
    with pytest.raises(ValueError, match="output_size"):
        ops.adaptive_max_pool2d(x, size)
    with pytest.raises(ValueError, match="output_size"):
        nn.AdaptiveAvgPool2d(size)


# --- LP pooling, unpooling, Flatten/Unflatten -------------------------------------------------

def test_lp_pool_is_the_p_norm_of_each_window(rng, isa):
    x = np.abs(_rand(rng, (2, 3, 7, 8))) + 0.1
    y = ops.lp_pool2d(x, 3.0, (2, 3), (2, 2))
    x64 = x.astype(np.float64)
    want = np.zeros(y.shape)
    for oh, ow in np.ndindex(*y.shape[2:]):
        want[:, :, oh, ow] = (x64[:, :, 2 * oh:2 * oh + 2, 2 * ow:2 * ow + 3] ** 3).sum(axis=(2, 3)) ** (1 / 3)
    np.testing.assert_allclose(y, want, rtol=1e-5)
    y1 = ops.lp_pool1d(x[:, :, 0], 2, 3)
    np.testing.assert_allclose(y1[..., 0], np.sqrt((x64[:, :, 0, :3] ** 2).sum(-1)), rtol=1e-5)


def test_max_unpool_puts_values_back_at_their_indices(rng):
    x6 = _rand(rng, (2, 3, 6, 6))
    y6, idx6 = ops.max_pool2d(x6, 2, return_indices=True)
    up = ops.max_unpool2d(y6, idx6, 2)
    assert up.shape == (2, 3, 6, 6)  # (3 - 1) * 2 + 2
    np.testing.assert_array_equal(up, np.where(up != 0, x6, 0))
    x = _rand(rng, (2, 3, 6, 7))
    y, idx = ops.max_pool2d(x, 2, return_indices=True)
    up7 = nn.MaxUnpool2d(2)(y, idx, output_size=(6, 7))
    assert up7.shape == (2, 3, 6, 7)
    np.testing.assert_array_equal(up7, np.where(up7 != 0, x, 0))
    assert np.count_nonzero(up7) == y.size
    with pytest.raises(ValueError, match="output_size"):
        ops.max_unpool2d(y, idx, 2, output_size=(9, 9))
    with pytest.raises(ValueError, match="outside the output plane"):
        ops.max_unpool2d(y, idx + 100, 2)


def test_flatten_and_unflatten(rng):
    x = _rand(rng, (2, 3, 4, 5))
    assert nn.Flatten()(x).shape == (2, 60)
    assert nn.Flatten(2)(x).shape == (2, 3, 20)
    assert nn.Flatten(1, 2)(x).shape == (2, 12, 5)
    assert nn.Flatten(0, -1)(x).shape == (120,)
    assert nn.Flatten(2).output_shape((3, 4, 5)) == (3, 20)
    assert nn.Unflatten(1, (3, 20))(nn.Flatten()(x)).shape == (2, 3, 20)
    assert nn.Unflatten(-1, (5, -1))(x).shape == (2, 3, 4, 5, 1)
    assert nn.Unflatten(1, (3, 4, 5)).output_shape((60,)) == (3, 4, 5)
    with pytest.raises(ValueError, match="has 12 elements"):
        nn.Unflatten(1, (3, 4))(nn.Flatten()(x))
    with pytest.raises(ValueError, match="one -1"):
        nn.Unflatten(1, (-1, -1))
    xt = cn.Tensor(x, requires_grad=True)
    nn.Unflatten(1, (6, 10))(nn.Flatten()(xt)).sum().backward()
    np.testing.assert_array_equal(xt.grad, np.ones_like(x))


@pytest.mark.parametrize("bad,match", [
    (lambda: ops.max_pool3d(np.zeros((1, 1, 4, 4, 4), np.float32), 2, padding=2), "padding"),
    (lambda: ops.max_pool3d(np.zeros((1, 1, 4, 4, 4), np.float32), (2, 2)), "triple"),
    (lambda: ops.avg_pool3d(np.zeros((1, 1, 1, 4, 4), np.float32), 2), "depth"),
    (lambda: ops.max_pool3d(np.zeros((1, 4, 4), np.float32), 2), "D, H, W"),
    (lambda: ops.max_pool1d(np.zeros((1, 1, 4), np.float32), (2, 2)), "kernel_size"),
    (lambda: nn.MaxPool3d(2, padding=3), "padding"),
    (lambda: ops.lp_pool2d(np.ones((1, 1, 4, 4), np.float32), 0, 2), "norm_type"),
    (lambda: ops.max_pool3d_backward(np.ones((1, 1, 1, 1, 1), np.float32), np.full((1, 1, 1, 1, 1), 99),
                                     (1, 1, 2, 2, 2)), "outside"),
    (lambda: ops.adaptive_avg_pool2d(np.zeros((1, 1, 0, 4), np.float32), 2), ">= 1"),
    (lambda: ops.adaptive_avg_pool_backward(np.ones((1, 1, 0, 2), np.float32), (1, 1, 4, 4)), "output_size"),
])
def test_bad_arguments_raise_clear_errors(bad, match):
    with pytest.raises(ValueError, match=match):
        bad()


def test_complex_inputs_are_a_type_error():
    z = np.ones((1, 1, 4, 4), np.complex64)
    for call in (lambda: ops.lp_pool2d(z, 2, 2), lambda: ops.max_unpool2d(z, np.zeros(z.shape, np.int64), 2),
                 lambda: ops.max_pool3d(z[None], 2), lambda: ops.max_pool_channels(z, 1),
                 lambda: ops.adaptive_avg_pool2d(z, 2)):
        with pytest.raises(TypeError):
            call()


def test_central_differences_of_avg_and_lp_pooling(rng):
    """Recorded gradients against central differences (the ops are float32; avg pooling is
    linear, so a large step is exact up to rounding; LP pooling is smooth for x > 0)."""
    cases = [
        (lambda t: ops.avg_pool3d(t, 2, 1, 1, True, False), (1, 2, 3, 4, 3)),
        (lambda t: ops.adaptive_avg_pool2d(t, (2, 3)), (1, 2, 5, 4)),
        (lambda t: ops.avg_pool_channels(t, 2), (2, 4, 3)),
        (lambda t: ops.lp_pool2d(t, 2.0, 2, 1, True), (1, 2, 3, 4)),
        (lambda t: ops.lp_pool1d(t, 3.0, 2), (2, 2, 5)),
    ]
    for f, shape in cases:
        x = np.abs(_rand(rng, shape)) + 0.5
        g = _rand(rng, f(x).shape)
        xt = cn.Tensor(x, requires_grad=True)
        f(xt).backward(g)
        assert np.abs(xt.grad).max() > 0
        eps = 1e-2
        numeric = np.zeros(shape)
        for i in np.ndindex(shape):
            plus, minus = x.astype(np.float64), x.astype(np.float64)
            plus[i] += eps
            minus[i] -= eps
            numeric[i] = ((f(plus.astype(np.float32)) * g).sum(dtype=np.float64)
                          - (f(minus.astype(np.float32)) * g).sum(dtype=np.float64)) / (2 * eps)
        np.testing.assert_allclose(xt.grad, numeric, rtol=2e-2, atol=2e-3)


# --- against torch ---------------------------------------------------------------------------

def _torch_layers():
    """(name, cnnnative layer, torch layer, input shape, positive input?) for every layer
    and the options that change its results."""
    T = pytest.importorskip("torch").nn
    L = [
        ("maxpool1d", nn.MaxPool1d(3, 2, 1, ceil_mode=True), T.MaxPool1d(3, 2, 1, ceil_mode=True), (2, 3, 12), False),
        ("maxpool1d_dil", nn.MaxPool1d(2, 1, 1, dilation=2), T.MaxPool1d(2, 1, 1, dilation=2), (1, 2, 9), False),
        ("avgpool1d", nn.AvgPool1d(3, 2, 1, True, False), T.AvgPool1d(3, 2, 1, True, False), (2, 3, 10), False),
        ("avgpool1d_cip", nn.AvgPool1d(4, 3, 2, True, True), T.AvgPool1d(4, 3, 2, True, True), (1, 2, 11), False),
        ("maxpool3d", nn.MaxPool3d(2), T.MaxPool3d(2), (2, 3, 4, 6, 6), False),
        ("maxpool3d_ceil", nn.MaxPool3d(3, 2, 1, ceil_mode=True), T.MaxPool3d(3, 2, 1, ceil_mode=True),
         (1, 2, 5, 6, 7), False),
        ("maxpool3d_dil", nn.MaxPool3d((2, 2, 3), (1, 2, 2), (1, 0, 1), (2, 1, 1)),
         T.MaxPool3d((2, 2, 3), (1, 2, 2), (1, 0, 1), (2, 1, 1)), (2, 1, 6, 5, 7), False),
        ("avgpool3d", nn.AvgPool3d(2, 2, 1, True, True), T.AvgPool3d(2, 2, 1, True, True), (1, 2, 5, 5, 6), False),
        ("avgpool3d_nocip", nn.AvgPool3d(3, 2, 1, True, False), T.AvgPool3d(3, 2, 1, True, False),
         (2, 2, 5, 6, 7), False),
        ("adaptiveavg1d", nn.AdaptiveAvgPool1d(4), T.AdaptiveAvgPool1d(4), (2, 3, 10), False),
        ("adaptiveavg2d", nn.AdaptiveAvgPool2d((3, 4)), T.AdaptiveAvgPool2d((3, 4)), (2, 3, 7, 5), False),
        ("adaptiveavg2d_1", nn.AdaptiveAvgPool2d(1), T.AdaptiveAvgPool2d(1), (2, 3, 7, 5), False),
        ("adaptiveavg2d_none", nn.AdaptiveAvgPool2d((None, 3)), T.AdaptiveAvgPool2d((None, 3)), (1, 2, 4, 7), False),
        ("adaptiveavg3d", nn.AdaptiveAvgPool3d((2, 3, 4)), T.AdaptiveAvgPool3d((2, 3, 4)), (1, 2, 5, 7, 6), False),
        ("adaptivemax1d", nn.AdaptiveMaxPool1d(3), T.AdaptiveMaxPool1d(3), (2, 3, 10), False),
        ("adaptivemax2d", nn.AdaptiveMaxPool2d((3, 4)), T.AdaptiveMaxPool2d((3, 4)), (2, 3, 7, 5), False),
        ("adaptivemax3d", nn.AdaptiveMaxPool3d((2, 2, 3)), T.AdaptiveMaxPool3d((2, 2, 3)), (1, 2, 5, 4, 7), False),
        ("globalmax", nn.GlobalMaxPool2d(), T.AdaptiveMaxPool2d(1), (2, 3, 5, 4), False),
        ("lppool2d", nn.LPPool2d(2, 3, 2), T.LPPool2d(2, 3, 2), (2, 3, 7, 8), False),
        ("lppool2d_ceil", nn.LPPool2d(1.5, (2, 3), (2, 2), True), T.LPPool2d(1.5, (2, 3), (2, 2), True),
         (1, 2, 7, 8), True),
        ("lppool1d", nn.LPPool1d(3, 3, 2, True), T.LPPool1d(3, 3, 2, True), (2, 3, 10), True),
        ("flatten", nn.Flatten(1, 2), T.Flatten(1, 2), (2, 3, 4, 5), False),
        ("unflatten", nn.Unflatten(1, (2, 6)), T.Unflatten(1, (2, 6)), (2, 12, 5), False),
    ]
    return L


@pytest.mark.parametrize("index", range(23))
def test_layers_match_torch_forward_and_backward(index, rng):
    torch = pytest.importorskip("torch")
    name, mine, theirs, shape, positive = _torch_layers()[index]
    x = _rand(rng, shape)
    if positive:
        x = np.abs(x) + 0.1
    xt = cn.Tensor(x, requires_grad=True)
    y = mine(xt)
    tx = torch.from_numpy(x.copy()).requires_grad_(True)
    ty = theirs(tx)
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-5, atol=1e-6, err_msg=name)
    g = _rand(rng, ty.shape)
    y.backward(g)
    ty.backward(torch.from_numpy(g))
    np.testing.assert_allclose(xt.grad, tx.grad.numpy(), rtol=1e-5, atol=1e-5, err_msg=name)


def test_return_indices_match_torch_and_unpool_round_trips(rng):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x = _rand(rng, (2, 3, 7, 9))
    x[0, 0, 1, 1] = np.nan
    tx = torch.from_numpy(x)
    y, idx = ops.max_pool2d(x, 3, 2, 1, ceil_mode=True, return_indices=True)
    ty, tidx = F.max_pool2d(tx, 3, 2, 1, ceil_mode=True, return_indices=True)
    np.testing.assert_array_equal(idx, tidx.numpy())
    # MaxUnpool2d with an explicit output size, forward and backward against torch
    yt = cn.Tensor(np.nan_to_num(y), requires_grad=True)
    up = nn.MaxUnpool2d(3, 2, 1)(yt, idx, output_size=(7, 9))
    tyt = torch.from_numpy(np.nan_to_num(y)).requires_grad_(True)
    tup = F.max_unpool2d(tyt, tidx, 3, 2, 1, output_size=(7, 9))
    np.testing.assert_array_equal(up.numpy(), tup.detach().numpy())
    g = _rand(rng, tup.shape)
    up.backward(g)
    tup.backward(torch.from_numpy(g))
    np.testing.assert_array_equal(yt.grad, tyt.grad.numpy())
    # 1-D, 3-D and adaptive indices
    x1 = _rand(rng, (2, 3, 11))
    np.testing.assert_array_equal(ops.max_pool1d(x1, 3, 2, 1, return_indices=True)[1],
                                  F.max_pool1d(torch.from_numpy(x1), 3, 2, 1, return_indices=True)[1].numpy())
    y1, i1 = ops.max_pool1d(x1, 2, return_indices=True)
    np.testing.assert_array_equal(ops.max_unpool1d(y1, i1, 2), F.max_unpool1d(torch.from_numpy(y1),
                                                                              torch.from_numpy(i1), 2).numpy())
    x3 = _rand(rng, (1, 2, 5, 6, 7))
    x3[0, 1, 2, 3, 4] = np.nan
    np.testing.assert_array_equal(ops.max_pool3d(x3, 3, 2, 1, 1, True, True)[1],
                                  F.max_pool3d(torch.from_numpy(x3), 3, 2, 1, 1, True, True)[1].numpy())
    np.testing.assert_array_equal(ops.adaptive_max_pool2d(x, (3, 4), True)[1],
                                  F.adaptive_max_pool2d(tx, (3, 4), True)[1].numpy())


def test_maxout_matches_torch_view_max(rng):
    torch = pytest.importorskip("torch")
    x = _rand(rng, (3, 12, 5, 7))
    x[1, 4, 2, 2] = np.nan
    x[1, 5, 2, 2] = np.nan
    xt = cn.Tensor(x, requires_grad=True)
    y = nn.Maxout(4)(xt)
    tx = torch.from_numpy(x.copy()).requires_grad_(True)
    ty = tx.view(3, 3, 4, 5, 7).max(2).values
    np.testing.assert_array_equal(y.numpy(), ty.detach().numpy())
    g = _rand(rng, ty.shape)
    y.backward(g)
    ty.backward(torch.from_numpy(g))
    np.testing.assert_array_equal(xt.grad, tx.grad.numpy())
    xa = cn.Tensor(x, requires_grad=True)
    nn.ChannelAvgPool(3)(xa).backward(np.ones((3, 4, 5, 7), np.float32))
    np.testing.assert_allclose(xa.grad, np.full(x.shape, 1 / 3, np.float32))


def test_functional_names():
    for name in ("max_pool1d", "max_pool3d", "avg_pool1d", "avg_pool3d", "adaptive_avg_pool1d", "adaptive_avg_pool2d",
                 "adaptive_avg_pool3d", "adaptive_max_pool1d", "adaptive_max_pool2d", "adaptive_max_pool3d",
                 "lp_pool1d", "lp_pool2d", "max_unpool1d", "max_unpool2d", "max_pool_channels",
                 "avg_pool_channels"):
        assert getattr(CF, name) is getattr(ops, name), name


def test_torch_models_with_the_new_layers_compile(rng):
    torch = pytest.importorskip("torch")
    T = torch.nn
    model = T.Sequential(T.Conv2d(3, 8, 3, padding=1), T.LPPool2d(2, 2), T.AdaptiveMaxPool2d((3, 3)),
                         T.AdaptiveAvgPool2d((2, 2)), T.Flatten(), T.Unflatten(1, (8, 4)), T.Flatten(1, -1),
                         T.Linear(32, 5)).eval()
    x = _rand(rng, (2, 3, 9, 9))
    compiled = cn.compile(model, (2, 3, 9, 9))
    with torch.no_grad():
        want = model(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(compiled(x), want, rtol=1e-4, atol=1e-5)


def test_compile_traces_the_new_layers(rng):
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(2, 8, 3, padding=1)
            self.maxout = nn.Maxout(2)
            self.avgc = nn.ChannelAvgPool(2)
            self.pool = nn.AdaptiveAvgPool2d((3, 2))
            self.lp = nn.LPPool2d(2, 2, 1)
            self.gmax = nn.GlobalMaxPool2d()

        def forward(self, x):
            y = self.avgc(self.maxout(self.conv(x)))
            y3 = ops.reshape(y, (y.shape[0], 1, 2, y.shape[2], y.shape[3]))
            y = ops.reshape(ops.max_pool3d(y3, (1, 2, 2), (1, 1, 1)), (y.shape[0], 2, y.shape[2] - 1, y.shape[3] - 1))
            return self.gmax(self.lp(self.pool(y)))

    model = Net()
    x = _rand(rng, (2, 2, 7, 6))
    want = np.asarray(model(x))
    np.testing.assert_allclose(cn.compile(model, (2, 2, 7, 6))(x), want, rtol=1e-5, atol=1e-6)
