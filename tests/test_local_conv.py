"""ops.locally_connected2d / ops.tiled_conv2d and nn.LocallyConnected2d / nn.TiledConv2d:
forward and both gradients against float64 numpy references (direct loops) under every ISA,
NaN-prefilled outputs, central differences, the torch unfold + einsum formulation users
write, tile (1, 1) == Conv2d, bad arguments, compile."""
import numpy as np
import pytest

import cnnnative as cn
from cnnnative import nn, ops
from ref_ops import nan_fill, numeric_grad  # noqa: F401  (nan_fill: autouse)

# (N, C, H, W, K, kernel, stride, padding (top, bottom, left, right))
LOCAL_CASES = [
    (2, 3, 7, 6, 4, (3, 3), (1, 1), (1, 1, 1, 1)),
    (1, 2, 9, 5, 3, (2, 3), (2, 1), (0, 0, 0, 0)),     # batch 1, rectangular kernel, stride 2
    (3, 5, 8, 8, 7, (3, 2), (2, 3), (2, 0, 1, 2)),     # asymmetric padding, odd sizes
    (2, 1, 4, 4, 1, (4, 4), (1, 1), (0, 0, 0, 0)),     # one position
    (5, 4, 11, 13, 6, (1, 1), (1, 1), (0, 0, 0, 0)),   # 1x1: per-pixel linear layer
    (17, 3, 12, 12, 5, (3, 3), (1, 1), (1, 1, 1, 1)),  # enough positions for every thread
]

# (N, C, H, W, K, kernel, tile, stride, padding)
TILED_CASES = [
    (2, 3, 7, 6, 4, (3, 3), (2, 2), (1, 1), (1, 1, 1, 1)),
    (1, 2, 9, 8, 3, (2, 3), (3, 2), (2, 1), (0, 0, 0, 0)),
    (3, 4, 10, 9, 5, (3, 3), (2, 3), (1, 2), (2, 0, 1, 2)),
    (2, 2, 5, 5, 3, (3, 3), (4, 4), (1, 1), (0, 0, 0, 0)),  # tile larger than the output: unused banks
    (2, 3, 6, 7, 2, (1, 1), (1, 3), (1, 1), (0, 0, 0, 0)),
]


def _pad(x, padding):
    t, b, l, r = padding
    return np.pad(x.astype(np.float64), ((0, 0), (0, 0), (t, b), (l, r)))


def _out(size, k, s, p0, p1):
    return (size + p0 + p1 - k) // s + 1


def ref_local(x, w, b, kernel, stride, padding):
    """float64 direct loops: y[n, k, oh, ow] = <patch(oh, ow), w[oh*OW + ow, k]> + b[k, oh, ow]."""
    xp = _pad(x, padding)
    n, c, h, wd = x.shape
    oh = _out(h, kernel[0], stride[0], padding[0], padding[1])
    ow = _out(wd, kernel[1], stride[1], padding[2], padding[3])
    y = np.zeros((n, w.shape[1], oh, ow))
    for i in range(oh):
        for j in range(ow):
            patch = xp[:, :, i * stride[0]:i * stride[0] + kernel[0], j * stride[1]:j * stride[1] + kernel[1]]
            y[:, :, i, j] = patch.reshape(n, -1) @ w[i * ow + j].astype(np.float64).T
    return y if b is None else y + b[None].astype(np.float64)


def ref_tiled(x, w, b, tile, stride, padding):
    """float64 direct loops: output (i, j) uses bank (i mod t_h)*t_w + (j mod t_w)."""
    xp = _pad(x, padding)
    n, c, h, wd = x.shape
    kh, kw = w.shape[3:]
    oh = _out(h, kh, stride[0], padding[0], padding[1])
    ow = _out(wd, kw, stride[1], padding[2], padding[3])
    y = np.zeros((n, w.shape[1], oh, ow))
    for i in range(oh):
        for j in range(ow):
            bank = w[(i % tile[0]) * tile[1] + j % tile[1]].astype(np.float64)
            patch = xp[:, :, i * stride[0]:i * stride[0] + kh, j * stride[1]:j * stride[1] + kw]
            y[:, :, i, j] = np.einsum("nchw,kchw->nk", patch, bank)
    return y if b is None else y + b[None, :, None, None].astype(np.float64)


def _local_data(rng, case):
    n, c, h, wd, k, kernel, stride, padding = case
    oh = _out(h, kernel[0], stride[0], padding[0], padding[1])
    ow = _out(wd, kernel[1], stride[1], padding[2], padding[3])
    x = rng.standard_normal((n, c, h, wd)).astype(np.float32)
    w = rng.standard_normal((oh * ow, k, c * kernel[0] * kernel[1])).astype(np.float32)
    b = rng.standard_normal((k, oh, ow)).astype(np.float32)
    return x, w, b


def _tiled_data(rng, case):
    n, c, h, wd, k, kernel, tile, stride, padding = case
    x = rng.standard_normal((n, c, h, wd)).astype(np.float32)
    w = rng.standard_normal((tile[0] * tile[1], k, c, *kernel)).astype(np.float32)
    b = rng.standard_normal(k).astype(np.float32)
    return x, w, b


def _backward(op, x, w, b, g, *geometry):
    """(y, grad_input, grad_weight, grad_bias) through the recording version."""
    tx, tw, tb = (cn.Tensor(a, requires_grad=True) for a in (x, w, b))
    y = op(tx, tw, tb, *geometry)
    y.backward(g)
    return y.numpy(), tx.grad, tw.grad, tb.grad


def _tol(ref):
    return dict(rtol=1e-4, atol=1e-4 * max(1.0, float(np.abs(ref).max())))


# --- locally connected ------------------------------------------------------------------------

@pytest.mark.parametrize("case", LOCAL_CASES)
def test_locally_connected_forward_matches_reference(case, rng, isa):
    x, w, b = _local_data(rng, case)
    geometry = case[5:]
    ref = ref_local(x, w, b, *geometry)
    y = ops.locally_connected2d(x, w, b, *geometry)
    assert y.dtype == np.float32 and y.shape == ref.shape
    np.testing.assert_allclose(y, ref, **_tol(ref))
    np.testing.assert_allclose(ops.locally_connected2d(x, w, None, *geometry), ref - b[None], **_tol(ref))


@pytest.mark.parametrize("case", LOCAL_CASES)
def test_locally_connected_gradients_match_reference(case, rng, isa):
    """The adjoint identities against the float64 forward: <g, y(x)> is linear in x and in w."""
    x, w, b = _local_data(rng, case)
    geometry = case[5:]
    g = rng.standard_normal(ref_local(x, w, b, *geometry).shape).astype(np.float32)
    _, gx, gw, gb = _backward(ops.locally_connected2d, x, w, b, g, *geometry)
    # Exact references by linearity: the gradient w.r.t. each element is y of a basis input.
    xp_shape = x.shape
    ref_gw = np.zeros(w.shape)
    xp = _pad(x, geometry[2])
    oh, ow = g.shape[2:]
    kernel, stride = geometry[0], geometry[1]
    ref_gx_padded = np.zeros(xp.shape)
    for i in range(oh):
        for j in range(ow):
            rows = slice(i * stride[0], i * stride[0] + kernel[0])
            cols = slice(j * stride[1], j * stride[1] + kernel[1])
            patch = xp[:, :, rows, cols].reshape(x.shape[0], -1)
            ref_gw[i * ow + j] = g[:, :, i, j].astype(np.float64).T @ patch
            ref_gx_padded[:, :, rows, cols] += (g[:, :, i, j].astype(np.float64) @ w[i * ow + j]).reshape(
                x.shape[0], x.shape[1], *kernel)
    t, bt, l, r = geometry[2]
    ref_gx = ref_gx_padded[:, :, t:t + xp_shape[2], l:l + xp_shape[3]]
    np.testing.assert_allclose(gx, ref_gx, **_tol(ref_gx))
    np.testing.assert_allclose(gw, ref_gw, **_tol(ref_gw))
    np.testing.assert_allclose(gb, g.astype(np.float64).sum(0), **_tol(g))


def test_locally_connected_central_differences_nonzero(rng):
    case = (2, 2, 5, 4, 3, (2, 2), (1, 1), (1, 0, 0, 1))
    x, w, b = _local_data(rng, case)
    geometry = case[5:]
    g = rng.standard_normal(ref_local(x, w, b, *geometry).shape)
    _, gx, gw, gb = _backward(ops.locally_connected2d, x, w, b, g.astype(np.float32), *geometry)
    for got, f, at in ((gx, lambda v: (g * ref_local(v, w, b, *geometry)).sum(), x),
                       (gw, lambda v: (g * ref_local(x, v, b, *geometry)).sum(), w),
                       (gb, lambda v: (g * ref_local(x, w, v, *geometry)).sum(), b)):
        numeric = numeric_grad(f, at)
        assert np.abs(got).max() > 0
        np.testing.assert_allclose(got, numeric, rtol=1e-4, atol=1e-4)


def test_locally_connected_unbatched_and_frozen_parts(rng):
    x, w, b = _local_data(rng, LOCAL_CASES[0])
    geometry = LOCAL_CASES[0][5:]
    np.testing.assert_allclose(ops.locally_connected2d(x[0], w, b, *geometry),
                               ops.locally_connected2d(x, w, b, *geometry)[0], rtol=1e-6, atol=1e-6)
    tx = cn.Tensor(x, requires_grad=True)
    y = ops.locally_connected2d(tx, w, b, *geometry)  # weight and bias plain arrays
    y.backward(np.ones(y.shape, np.float32))
    assert tx.grad.shape == x.shape and np.abs(tx.grad).max() > 0
    tx1 = cn.Tensor(x[0], requires_grad=True)
    y1 = ops.locally_connected2d(tx1, w, b, *geometry)
    y1.backward(np.ones(y1.shape, np.float32))
    np.testing.assert_allclose(tx1.grad, tx.grad[0], rtol=1e-5, atol=1e-5)


def test_locally_connected_empty_batch(rng):
    x, w, b = _local_data(rng, LOCAL_CASES[0])
    geometry = LOCAL_CASES[0][5:]
    x0 = x[:0]
    assert ops.locally_connected2d(x0, w, b, *geometry).shape == (0, 4, 7, 6)
    tw = cn.Tensor(w, requires_grad=True)
    y = ops.locally_connected2d(x0, tw, b, *geometry)
    y.backward(np.zeros(y.shape, np.float32))
    assert not np.any(tw.grad)


# --- tiled ------------------------------------------------------------------------------------

@pytest.mark.parametrize("case", TILED_CASES)
def test_tiled_forward_matches_reference(case, rng, isa):
    x, w, b = _tiled_data(rng, case)
    geometry = case[5:]
    ref = ref_tiled(x, w, b, geometry[1], geometry[2], geometry[3])
    y = ops.tiled_conv2d(x, w, b, *geometry[1:])
    assert y.dtype == np.float32 and y.shape == ref.shape
    np.testing.assert_allclose(y, ref, **_tol(ref))


def ref_tiled_grads(x, w, g, tile, stride, padding):
    """float64 (grad_input, grad_weight) of ref_tiled by the same direct loops."""
    xp = _pad(x, padding)
    g = g.astype(np.float64)
    kh, kw = w.shape[3:]
    gxp, gw = np.zeros(xp.shape), np.zeros(w.shape)
    for i in range(g.shape[2]):
        for j in range(g.shape[3]):
            bank = (i % tile[0]) * tile[1] + j % tile[1]
            rows = slice(i * stride[0], i * stride[0] + kh)
            cols = slice(j * stride[1], j * stride[1] + kw)
            gw[bank] += np.einsum("nk,nchw->kchw", g[:, :, i, j], xp[:, :, rows, cols])
            gxp[:, :, rows, cols] += np.einsum("nk,kchw->nchw", g[:, :, i, j], w[bank].astype(np.float64))
    t, _, l, _ = padding
    return gxp[:, :, t:t + x.shape[2], l:l + x.shape[3]], gw


@pytest.mark.parametrize("case", TILED_CASES)
def test_tiled_gradients_match_reference(case, rng, isa):
    x, w, b = _tiled_data(rng, case)
    tile, stride, padding = case[6:]
    g = rng.standard_normal(ref_tiled(x, w, b, tile, stride, padding).shape).astype(np.float32)
    _, gx, gw, gb = _backward(ops.tiled_conv2d, x, w, b, g, tile, stride, padding)
    ref_gx, ref_gw = ref_tiled_grads(x, w, g, tile, stride, padding)
    np.testing.assert_allclose(gx, ref_gx, **_tol(ref_gx))
    np.testing.assert_allclose(gw, ref_gw, **_tol(ref_gw))
    np.testing.assert_allclose(gb, g.astype(np.float64).sum((0, 2, 3)), **_tol(g))
    # A bank gets a gradient exactly when some output uses it.
    oh, ow = g.shape[2:]
    for bank in range(tile[0] * tile[1]):
        used = bank // tile[1] < oh and bank % tile[1] < ow
        assert (np.abs(gw[bank]).max() > 0) == used


def test_tiled_central_differences_nonzero(rng):
    case = (2, 2, 5, 4, 3, (2, 2), (2, 2), (1, 1), (1, 0, 0, 1))
    x, w, b = _tiled_data(rng, case)
    tile, stride, padding = case[6:]
    g = rng.standard_normal(ref_tiled(x, w, b, tile, stride, padding).shape)
    _, gx, gw, gb = _backward(ops.tiled_conv2d, x, w, b, g.astype(np.float32), tile, stride, padding)
    for got, f, at in ((gx, lambda v: (g * ref_tiled(v, w, b, tile, stride, padding)).sum(), x),
                       (gw, lambda v: (g * ref_tiled(x, v, b, tile, stride, padding)).sum(), w),
                       (gb, lambda v: (g * ref_tiled(x, w, v, tile, stride, padding)).sum(), b)):
        numeric = numeric_grad(f, at)
        assert np.abs(got).max() > 0
        np.testing.assert_allclose(got, numeric, rtol=1e-4, atol=1e-4)


def test_tiled_with_one_tile_is_conv2d(rng):
    x = rng.standard_normal((2, 3, 9, 8)).astype(np.float32)
    layer = nn.TiledConv2d(3, 5, 3, tile_size=(1, 1), stride=2, padding=1)
    conv = nn.Conv2d(3, 5, 3, stride=2, padding=1)
    conv.weight.data[...] = layer.weight.data[0]
    conv.bias.data[...] = layer.bias.data
    np.testing.assert_array_equal(layer(x), conv(x))
    tx, cx = cn.Tensor(x, requires_grad=True), cn.Tensor(x, requires_grad=True)
    layer(tx).sum().backward()
    conv(cx).sum().backward()
    np.testing.assert_array_equal(tx.grad, cx.grad)
    np.testing.assert_array_equal(layer.weight.grad[0], conv.weight.grad)
    np.testing.assert_array_equal(layer.bias.grad, conv.bias.grad)


def test_tiled_unbatched(rng):
    x, w, b = _tiled_data(rng, TILED_CASES[0])
    geometry = TILED_CASES[0][6:]
    np.testing.assert_allclose(ops.tiled_conv2d(x[0], w, b, *geometry), ops.tiled_conv2d(x, w, b, *geometry)[0],
                               rtol=1e-6, atol=1e-6)


# --- against the torch formulation (unfold + einsum) ------------------------------------------

def _torch_local(torch, x, w, b, kernel, stride, padding):
    F = torch.nn.functional
    t, bt, l, r = padding
    cols = F.unfold(F.pad(x, (l, r, t, bt)), kernel, stride=stride)  # (N, C*kH*kW, P)
    y = torch.einsum("ncp,pkc->nkp", cols, w)
    return y


def _torch_tiled(torch, x, w, b, tile, stride, padding):
    F = torch.nn.functional
    t, bt, l, r = padding
    kh, kw = w.shape[3:]
    xp = F.pad(x, (l, r, t, bt))
    oh = (xp.shape[2] - kh) // stride[0] + 1
    ow = (xp.shape[3] - kw) // stride[1] + 1
    cols = F.unfold(xp, (kh, kw), stride=stride)
    bank = ((torch.arange(oh) % tile[0])[:, None] * tile[1] + (torch.arange(ow) % tile[1])[None]).reshape(-1)
    per_position = w.reshape(w.shape[0], w.shape[1], -1)[bank]  # (P, K, C*kH*kW)
    return torch.einsum("ncp,pkc->nkp", cols, per_position).reshape(x.shape[0], w.shape[1], oh, ow) + b[:, None, None]


@pytest.mark.parametrize("case", LOCAL_CASES[:3])
def test_locally_connected_matches_torch_unfold_einsum(case, rng):
    torch = pytest.importorskip("torch")
    x, w, b = _local_data(rng, case)
    kernel, stride, padding = case[5:]
    tx, tw, tb = (torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in (x, w, b))
    ty = _torch_local(torch, tx, tw, tb, kernel, stride, padding).reshape(x.shape[0], w.shape[1], *b.shape[1:]) + tb
    g = rng.standard_normal(tuple(ty.shape)).astype(np.float32)
    ty.backward(torch.tensor(g, dtype=torch.float64))
    y, gx, gw, gb = _backward(ops.locally_connected2d, x, w, b, g, kernel, stride, padding)
    for ours, theirs in ((y, ty), (gx, tx.grad), (gw, tw.grad), (gb, tb.grad)):
        ref = theirs.detach().numpy()
        np.testing.assert_allclose(ours, ref, **_tol(ref))


@pytest.mark.parametrize("case", TILED_CASES[:3])
def test_tiled_matches_torch_unfold_gather_einsum(case, rng):
    torch = pytest.importorskip("torch")
    x, w, b = _tiled_data(rng, case)
    tile, stride, padding = case[6:]
    tx, tw, tb = (torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in (x, w, b))
    ty = _torch_tiled(torch, tx, tw, tb, tile, stride, padding)
    g = rng.standard_normal(tuple(ty.shape)).astype(np.float32)
    ty.backward(torch.tensor(g, dtype=torch.float64))
    y, gx, gw, gb = _backward(ops.tiled_conv2d, x, w, b, g, tile, stride, padding)
    for ours, theirs in ((y, ty), (gx, tx.grad), (gw, tw.grad), (gb, tb.grad)):
        ref = theirs.detach().numpy()
        np.testing.assert_allclose(ours, ref, **_tol(ref))


# --- layers -------------------------------------------------------------------------------------

def test_layers_parameters_and_training_step(rng):
    lc = nn.LocallyConnected2d(4, 5, (7, 6), 3, stride=2, padding=1)
    assert lc.weight.shape == (4 * 3, 5, 36) and lc.bias.shape == (5, 4, 3)
    assert set(lc.state_dict()) == {"weight", "bias"}
    assert np.abs(lc.weight.data).max() <= 1 / 6
    tc = nn.TiledConv2d(3, 4, 3, tile_size=(2, 3), padding=1, bias=False)
    assert tc.weight.shape == (6, 4, 3, 3, 3) and tc.bias is None
    x = rng.standard_normal((2, 3, 7, 6)).astype(np.float32)
    model = nn.Sequential(tc, nn.ReLU(), lc)
    assert model(x).shape == (2, 5, 4, 3)
    out = model(cn.Tensor(x))
    out.sum().backward()
    assert np.abs(lc.weight.grad).max() > 0 and np.abs(tc.weight.grad).max() > 0
    assert "input_size=(7, 6)" in repr(lc) and "tile_size=(2, 3)" in repr(tc)


def test_functional_names():
    assert nn.functional.locally_connected2d is ops.locally_connected2d
    assert nn.functional.tiled_conv2d is ops.tiled_conv2d


@pytest.mark.parametrize("make,shape", [
    (lambda: nn.LocallyConnected2d(3, 4, (7, 6), 3, stride=2, padding=1), (2, 3, 7, 6)),
    (lambda: nn.TiledConv2d(3, 4, 3, tile_size=(2, 3), padding=1), (2, 3, 7, 6)),
])
def test_compile_matches_eager(make, shape, rng):
    model = nn.Sequential(make(), nn.ReLU())
    model.eval()
    x = rng.standard_normal(shape).astype(np.float32)
    with cn.no_grad():
        expected = np.asarray(model(x))
    compiled = cn.compile(model, shape)
    np.testing.assert_allclose(compiled(x), expected, rtol=1e-5, atol=1e-5)


# --- bad arguments ------------------------------------------------------------------------------

def test_input_size_mismatch_names_both_sizes(rng):
    lc = nn.LocallyConnected2d(3, 4, (7, 6), 3)
    with pytest.raises(ValueError, match=r"\(8, 6\).*input_size=\(7, 6\)"):
        lc(rng.standard_normal((2, 3, 8, 6)).astype(np.float32))
    with pytest.raises(ValueError, match="2 channels"):
        lc(rng.standard_normal((2, 2, 7, 6)).astype(np.float32))
    x, w, b = _local_data(rng, LOCAL_CASES[0])
    with pytest.raises(ValueError, match=r"weight has shape \(42, 4, 27\).*expected \(30, out_channels, 27\)"):
        ops.locally_connected2d(x[:, :, :5], w, b, 3, 1, 1)
    with pytest.raises(ValueError, match=r"bias must have shape \(4, 7, 6\)"):
        ops.locally_connected2d(x, w, b[:, :3], 3, 1, 1)


def test_tiled_stride_and_padding_are_checked(rng):
    # A stride of 0 was a ZeroDivisionError from the phase arithmetic (malformed-call fuzzer).
    x = rng.standard_normal((1, 3, 6, 6)).astype(np.float32)
    w = rng.standard_normal((4, 2, 3, 3, 3)).astype(np.float32)
    with pytest.raises(ValueError, match=r"stride must be >= 1, got \(0, 1\)"):
        ops.tiled_conv2d(x, w, None, (2, 2), stride=(0, 1))
    with pytest.raises(ValueError, match="padding must be >= 0"):
        ops.tiled_conv2d(x, w, None, (2, 2), padding=-1)


def test_bad_arguments_raise_clearly(rng):
    with pytest.raises(ValueError, match="tile_size must be >= 1"):
        nn.TiledConv2d(3, 4, 3, tile_size=(0, 2))
    with pytest.raises(ValueError, match="tile_size must be >= 1"):
        ops.tiled_conv2d(np.zeros((1, 1, 4, 4), np.float32), np.zeros((1, 1, 1, 3, 3), np.float32), None, -1)
    with pytest.raises(ValueError, match=r"\(6, \.\.\.\) for tile_size=\(2, 3\)"):
        ops.tiled_conv2d(np.zeros((1, 1, 4, 4), np.float32), np.zeros((4, 1, 1, 3, 3), np.float32), None, (2, 3))
    with pytest.raises(ValueError, match="does not fit"):
        nn.LocallyConnected2d(3, 4, (2, 2), 3)
    with pytest.raises(ValueError, match="kernel_size must be positive"):
        nn.LocallyConnected2d(3, 4, (5, 5), 0)
    with pytest.raises(ValueError, match="padding must be >= 0"):
        nn.TiledConv2d(3, 4, 3, padding=-1)
    with pytest.raises(ValueError, match="does not fit"):
        ops.tiled_conv2d(np.zeros((1, 1, 2, 2), np.float32), np.zeros((4, 1, 1, 3, 3), np.float32), None, 2)
    with pytest.raises(TypeError, match="stride"):
        ops.locally_connected2d(np.zeros((1, 1, 4, 4), np.float32), np.zeros((4, 1, 9), np.float32), None, 3,
                                (1.5, 1))


def test_none_arrays_are_type_errors():
    x = np.zeros((1, 1, 4, 4), np.float32)
    with pytest.raises(TypeError, match="input must be an array"):
        ops.tiled_conv2d(None, np.zeros((4, 1, 1, 3, 3), np.float32), None, 2)
    with pytest.raises(TypeError, match="weight must be an array"):
        ops.tiled_conv2d(x, None, None, 2)
    with pytest.raises(TypeError, match="weight must be an array"):
        ops.locally_connected2d(x, None, None, 3)


def test_size_overflow_is_an_overflow_error():
    x = np.zeros((1, 1, 1, 1), np.float32)
    w = np.zeros((1, 1, 1), np.float32)
    with pytest.raises(OverflowError):
        ops.locally_connected2d(x, w, None, 1, 1, (2 ** 62, 2 ** 62, 0, 0))
