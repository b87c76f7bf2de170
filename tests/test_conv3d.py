"""conv3d / conv_transpose3d (ops.conv3d), nn.Conv3d / nn.ConvTranspose3d: against float64
numpy references built from the definition (a loop over kernel taps), on every ISA, both
algorithms (vol2col + GEMM, direct depthwise), with outputs and scratch NaN-prefilled
(CNNNATIVE_DEBUG_NAN); against torch when it is installed; finite differences; bad
arguments; compile."""
import re

import numpy as np
import pytest

import cnnnative as cn
from cnnnative import nn, ops


@pytest.fixture(autouse=True)
def nan_outputs(monkeypatch):
    # Outputs and column scratch start as NaN: an element a kernel forgets shows up.
    monkeypatch.setenv("CNNNATIVE_DEBUG_NAN", "1")


# --- float64 references -----------------------------------------------------------------------

def _out(size, k, s, lo, hi, d):
    return (size + lo + hi - d * (k - 1) - 1) // s + 1


def _taps(w_shape):
    return np.ndindex(*w_shape[2:])


def _window(a, tap, stride, dilation, out):
    """a[..., t*dd : ... : sd, ...]: what kernel tap `tap` sees for every output position."""
    return a[(slice(None), slice(None)) + tuple(
        slice(k * d, k * d + s * (o - 1) + 1, s) for k, s, d, o in zip(tap, stride, dilation, out))]


def ref_conv3d(x, w, b, stride, pad6, dilation, groups):
    x, w = x.astype(np.float64), w.astype(np.float64)
    n, c, *size = x.shape
    k, cg = w.shape[:2]
    kg = k // groups
    xp = np.pad(x, ((0, 0), (0, 0)) + tuple((pad6[2 * i], pad6[2 * i + 1]) for i in range(3)))
    out = [_out(size[i], w.shape[2 + i], stride[i], pad6[2 * i], pad6[2 * i + 1], dilation[i]) for i in range(3)]
    y = np.zeros((n, k, *out))
    for g in range(groups):
        xs, wg = xp[:, g * cg:(g + 1) * cg], w[g * kg:(g + 1) * kg]
        for tap in _taps(w.shape):
            y[:, g * kg:(g + 1) * kg] += np.einsum("nczyx,kc->nkzyx", _window(xs, tap, stride, dilation, out),
                                                   wg[(slice(None), slice(None)) + tap])
    if b is not None:
        y += b.astype(np.float64)[:, None, None, None]
    return y


def ref_grads(x, w, dy, stride, pad6, dilation, groups):
    """(dx, dw) of sum(conv3d(x, w) * dy), by the adjoint of the same tap loop."""
    x, w, dy = x.astype(np.float64), w.astype(np.float64), dy.astype(np.float64)
    k, cg = w.shape[:2]
    kg = k // groups
    pads = ((0, 0), (0, 0)) + tuple((pad6[2 * i], pad6[2 * i + 1]) for i in range(3))
    xp = np.pad(x, pads)
    dxp = np.zeros_like(xp)
    dw = np.zeros_like(w)
    out = dy.shape[2:]
    for g in range(groups):
        cs, ks = slice(g * cg, (g + 1) * cg), slice(g * kg, (g + 1) * kg)
        for tap in _taps(w.shape):
            sel = (slice(None), slice(None)) + tap
            _window(dxp[:, cs], tap, stride, dilation, out)[...] += np.einsum(
                "nkzyx,kc->nczyx", dy[:, ks], w[ks][sel])
            dw[ks][sel] += np.einsum("nczyx,nkzyx->kc", _window(xp[:, cs], tap, stride, dilation, out), dy[:, ks])
    crop = (slice(None), slice(None)) + tuple(slice(pad6[2 * i], pad6[2 * i] + x.shape[2 + i]) for i in range(3))
    return dxp[crop], dw


def ref_conv_transpose3d(x, w, b, stride, padding, output_padding, groups, dilation):
    """The definition: input position i and tap k add into output i*stride - padding + k*dilation."""
    x, w = x.astype(np.float64), w.astype(np.float64)
    n, cin, *size = x.shape
    cog = w.shape[1]
    cig = cin // groups
    out = [(size[i] - 1) * stride[i] - 2 * padding[i] + dilation[i] * (w.shape[2 + i] - 1)
           + output_padding[i] + 1 for i in range(3)]
    full = [max((size[i] - 1) * stride[i] + dilation[i] * (w.shape[2 + i] - 1) + 1, padding[i] + out[i])
            for i in range(3)]
    y = np.zeros((n, cog * groups, *full))
    for g in range(groups):
        xg, wg = x[:, g * cig:(g + 1) * cig], w[g * cig:(g + 1) * cig]
        for tap in _taps(w.shape):
            _window(y[:, g * cog:(g + 1) * cog], tap, stride, dilation, size)[...] += np.einsum(
                "ncdhw,co->nodhw", xg, wg[(slice(None), slice(None)) + tap])
    y = y[(slice(None), slice(None)) + tuple(slice(padding[i], padding[i] + out[i]) for i in range(3))]
    if b is not None:
        y = y + b.astype(np.float64)[:, None, None, None]
    return y


def _sym(p):
    return (p[0], p[0], p[1], p[1], p[2], p[2])


# (N, C, (D, H, W), K, (kD, kH, kW), stride, padding, dilation, groups)
CASES = [
    (1, 3, (5, 6, 7), 4, (3, 3, 3), (1, 1, 1), (1, 1, 1), (1, 1, 1), 1),
    (2, 4, (4, 7, 5), 6, (2, 3, 1), (2, 1, 2), (0, 1, 0), (1, 1, 1), 2),
    (3, 2, (6, 5, 9), 3, (3, 2, 3), (1, 2, 1), (2, 0, 1), (2, 1, 3), 1),
    (2, 5, (3, 4, 5), 5, (1, 1, 1), (1, 1, 1), (0, 0, 0), (1, 1, 1), 1),       # pointwise
    (2, 6, (5, 5, 17), 6, (3, 3, 3), (1, 1, 1), (1, 1, 1), (1, 1, 1), 6),      # depthwise
    (1, 5, (7, 6, 19), 5, (3, 1, 5), (2, 1, 3), (1, 0, 2), (1, 1, 1), 5),      # depthwise, strided
    (2, 3, (6, 7, 21), 3, (2, 3, 3), (1, 1, 1), (3, 2, 2), (1, 2, 1), 3),      # depthwise, pad > span
    (1, 4, (4, 5, 6), 8, (3, 3, 3), (1, 1, 1), (4, 3, 2), (1, 1, 1), 4),      # groups, large padding
    (2, 6, (3, 5, 11), 64, (3, 3, 3), (1, 1, 1), (1, 1, 1), (1, 1, 1), 2),    # 32 per group: direct (AVX2, AVX-512)
    (1, 5, (4, 4, 9), 40, (3, 2, 3), (2, 1, 1), (1, 1, 2), (1, 1, 2), 1),     # direct, depth stride, width dilation
]


def _case_arrays(case, rng):
    n, c, size, k, kernel, stride, padding, dilation, groups = case
    x = rng.standard_normal((n, c, *size)).astype(np.float32)
    w = rng.standard_normal((k, c // groups, *kernel)).astype(np.float32)
    b = rng.standard_normal(k).astype(np.float32)
    return x, w, b


def _algos(case):
    """vol2col + GEMM, and the direct kernels: depthwise, or ('direct') >= 32 output channels
    per group where the ISA has them (elsewhere 'direct' is vol2col + GEMM)."""
    n, c, size, k, kernel, stride, padding, dilation, groups = case
    return ("gemm", "depthwise") if groups == c == k else ("gemm", "direct")


@pytest.mark.parametrize("case", CASES)
def test_forward_and_gradients_match_the_float64_reference(case, rng, isa):
    x, w, b = _case_arrays(case, rng)
    *_, stride, padding, dilation, groups = case
    expected = ref_conv3d(x, w, b, stride, _sym(padding), dilation, groups)
    dy = rng.standard_normal(expected.shape).astype(np.float32)
    ref_dx, ref_dw = ref_grads(x, w, dy, stride, _sym(padding), dilation, groups)
    geometry = (stride, padding, dilation, groups)
    for algo in _algos(case):
        y = ops.conv3d(x, w, b, *geometry, algo=algo)
        np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-4, err_msg=algo)
        dx = ops.conv3d_input(x.shape, w, dy, *geometry, algo=algo)
        np.testing.assert_allclose(dx, ref_dx, rtol=1e-4, atol=1e-4, err_msg=algo)
        dw, db = ops.conv3d_weight(x, w.shape, dy, *geometry, with_bias=True, algo=algo)
        np.testing.assert_allclose(dw, ref_dw, rtol=1e-4, atol=2e-4, err_msg=algo)
        np.testing.assert_allclose(db, dy.astype(np.float64).sum(axis=(0, 2, 3, 4)), rtol=1e-5, atol=1e-4)


def test_large_volume_spans_many_bands_and_threads(rng):
    # A layer large enough that the forward, weight gradient and stride-2 input gradient
    # split the volume into several bands of output rows.
    x = rng.standard_normal((1, 8, 9, 30, 33)).astype(np.float32)
    w = rng.standard_normal((16, 8, 3, 3, 3)).astype(np.float32)
    for stride in (1, 2):
        geometry = ((stride,) * 3, (1, 1, 1), (1, 1, 1), 1)
        expected = ref_conv3d(x, w, None, *geometry[:1], _sym((1, 1, 1)), (1, 1, 1), 1)
        np.testing.assert_allclose(ops.conv3d(x, w, None, *geometry), expected, rtol=1e-4, atol=1e-3)
        dy = rng.standard_normal(expected.shape).astype(np.float32)
        ref_dx, ref_dw = ref_grads(x, w, dy, (stride,) * 3, _sym((1, 1, 1)), (1, 1, 1), 1)
        np.testing.assert_allclose(ops.conv3d_input(x.shape, w, dy, *geometry), ref_dx, rtol=1e-4, atol=1e-3)
        np.testing.assert_allclose(ops.conv3d_weight(x, w.shape, dy, *geometry), ref_dw, rtol=1e-4, atol=2e-3)


def test_weight_gradient_is_the_same_on_every_call(rng):
    # Units are assigned to threads statically, so the per-thread partial sums (and their
    # rounding) do not change from call to call.
    x = rng.standard_normal((2, 8, 6, 20, 21)).astype(np.float32)
    dy = rng.standard_normal((2, 16, 6, 20, 21)).astype(np.float32)
    first = ops.conv3d_weight(x, (16, 8, 3, 3, 3), dy, 1, 1)
    for _ in range(4):
        np.testing.assert_array_equal(ops.conv3d_weight(x, (16, 8, 3, 3, 3), dy, 1, 1), first)


@pytest.mark.parametrize("padding", ["same", "valid"])
def test_string_padding(padding, rng):
    x = rng.standard_normal((2, 3, 5, 6, 7)).astype(np.float32)
    w = rng.standard_normal((4, 3, 2, 3, 4)).astype(np.float32)  # even kernels: 'same' pads one more at the end
    y = ops.conv3d(x, w, None, 1, padding, (1, 2, 1))
    pad6 = (0, 1, 2, 2, 1, 2) if padding == "same" else (0,) * 6
    np.testing.assert_allclose(y, ref_conv3d(x, w, None, (1, 1, 1), pad6, (1, 2, 1), 1), rtol=1e-4, atol=1e-4)
    if padding == "same":
        assert y.shape[2:] == x.shape[2:]


def test_unbatched_input(rng):
    x = rng.standard_normal((3, 4, 5, 6)).astype(np.float32)
    w = rng.standard_normal((2, 3, 3, 3, 3)).astype(np.float32)
    np.testing.assert_allclose(ops.conv3d(x, w, None, 1, 1), ops.conv3d(x[None], w, None, 1, 1)[0])


TRANSPOSED = [
    # (N, C_in, (D, H, W), C_out, kernel, stride, padding, output_padding, groups, dilation)
    (1, 3, (3, 4, 5), 4, (3, 3, 3), (2, 2, 2), (1, 1, 1), (1, 0, 1), 1, (1, 1, 1)),
    (2, 4, (2, 3, 4), 6, (2, 3, 2), (1, 2, 3), (0, 1, 1), (0, 1, 2), 2, (1, 1, 1)),
    (2, 2, (3, 3, 3), 3, (3, 2, 3), (1, 1, 2), (0, 0, 1), (1, 0, 0), 1, (2, 1, 1)),  # op < dilation, op > pad
    (1, 5, (4, 3, 6), 5, (3, 3, 3), (2, 1, 2), (1, 1, 1), (1, 0, 0), 5, (1, 1, 1)),  # depthwise
]


@pytest.mark.parametrize("case", TRANSPOSED)
def test_conv_transpose3d_matches_the_definition(case, rng, isa):
    n, cin, size, cout, kernel, stride, padding, out_pad, groups, dilation = case
    x = rng.standard_normal((n, cin, *size)).astype(np.float32)
    w = rng.standard_normal((cin, cout // groups, *kernel)).astype(np.float32)
    b = rng.standard_normal(cout).astype(np.float32)
    args = (stride, padding, out_pad, groups, dilation)
    expected = ref_conv_transpose3d(x, w, b, *args)
    y = ops.conv_transpose3d(x, w, b, *args)
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-4)
    # Gradients: through autograd, against the reference's adjoints (the forward conv).
    dy = rng.standard_normal(y.shape).astype(np.float32)
    xt, wt, bt = cn.Tensor(x, requires_grad=True), cn.Tensor(w, requires_grad=True), cn.Tensor(b, requires_grad=True)
    (ops.conv_transpose3d(xt, wt, bt, *args) * cn.Tensor(dy)).sum().backward()
    # sum(convT(x, w) * dy) = sum(x * conv(dy', w)), dy' = dy padded to the conv's geometry.
    pad6 = []
    for i in range(3):
        pad6 += [padding[i], padding[i] - out_pad[i]]
    dy_big = np.pad(dy.astype(np.float64), ((0, 0), (0, 0)) + tuple((0, max(0, -pad6[2 * i + 1])) for i in range(3)))
    pad6 = [max(0, p) for p in pad6]
    ref_dx = ref_conv3d(dy_big, w, None, stride, pad6, dilation, groups)
    _, ref_dw = ref_grads(dy_big, w, x, stride, pad6, dilation, groups)
    np.testing.assert_allclose(xt.grad, ref_dx[(slice(None), slice(None)) + tuple(slice(0, s) for s in size)],
                               rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(wt.grad, ref_dw, rtol=1e-4, atol=2e-4)
    np.testing.assert_allclose(bt.grad, dy.sum(axis=(0, 2, 3, 4)), rtol=1e-4, atol=1e-4)


# --- autograd ---------------------------------------------------------------------------------

def finite_differences_match(loss, arrays, tensors, indices, each_nonzero=False):
    """For each of (x, w, b): the recorded gradient at `indices` equals the central
    difference of loss(x, w, b) (eps 1e-4, float64); every gradient has a non-zero entry,
    and with each_nonzero every difference checked is non-zero."""
    eps = 1e-4
    for tensor, base, idxs in zip(tensors, arrays, indices):
        for idx in idxs:
            plus, minus = base.copy(), base.copy()
            plus[idx] += eps
            minus[idx] -= eps
            numeric = (loss(*[plus if a is base else a for a in arrays])
                       - loss(*[minus if a is base else a for a in arrays])) / (2 * eps)
            if each_nonzero:
                assert numeric != 0
            assert tensor.grad[idx] == pytest.approx(numeric, rel=1e-3, abs=1e-3)
        assert np.abs(tensor.grad).max() > 0


def test_autograd_matches_the_reference_and_finite_differences(rng):
    x = rng.standard_normal((2, 2, 4, 4, 5))
    w = rng.standard_normal((4, 1, 2, 3, 2)) * 0.5
    b = rng.standard_normal(4)
    r = rng.standard_normal((2, 4, 3, 4, 3))
    geometry = ((2, 1, 2), (1, 1, 1), (1, 1, 1), 2)

    def loss(x_, w_, b_):
        return float((ref_conv3d(x_, w_, b_, geometry[0], _sym(geometry[1]), geometry[2], geometry[3]) * r).sum())

    xt, wt, bt = (cn.Tensor(a.astype(np.float32), requires_grad=True) for a in (x, w, b))
    (ops.conv3d(xt, wt, bt, *geometry) * cn.Tensor(r.astype(np.float32))).sum().backward()
    finite_differences_match(loss, (x, w, b), (xt, wt, bt),
                             ([(0, 1, 2, 1, 3), (1, 0, 0, 0, 0), (1, 1, 3, 3, 4)],
                              [(0, 0, 1, 2, 1), (3, 0, 0, 0, 0)], [(1,)]))


def test_frozen_weight_skips_its_gradient(rng):
    layer = nn.Conv3d(2, 3, 3, padding=1)
    layer.weight.requires_grad = False
    x = cn.Tensor(rng.standard_normal((1, 2, 3, 4, 5)).astype(np.float32), requires_grad=True)
    layer(x).sum().backward()
    assert layer.weight.grad is None and layer.bias.grad is not None and x.grad is not None


# --- torch ------------------------------------------------------------------------------------

TORCH_CASES = [
    dict(cin=3, cout=4, k=3, stride=1, padding=1, dilation=1, groups=1, size=(5, 6, 7), n=2),
    dict(cin=4, cout=4, k=(3, 1, 3), stride=(2, 1, 1), padding=(1, 0, 1), dilation=1, groups=4, size=(6, 5, 8), n=1),
    dict(cin=4, cout=6, k=2, stride=2, padding=0, dilation=(1, 2, 1), groups=2, size=(5, 7, 6), n=3),
    dict(cin=2, cout=3, k=3, stride=1, padding="same", dilation=2, groups=1, size=(5, 6, 7), n=1),
]


def layer_matches_torch(cfg, rng):
    """nn.Conv3d(cfg) with torch.nn.Conv3d's weights: same state_dict layout, output and
    gradients (input, weight, bias) as torch on a random input and output gradient."""
    torch = pytest.importorskip("torch")
    ours = nn.Conv3d(cfg["cin"], cfg["cout"], cfg["k"], cfg["stride"], cfg["padding"], cfg["dilation"], cfg["groups"])
    theirs = torch.nn.Conv3d(cfg["cin"], cfg["cout"], cfg["k"], cfg["stride"], cfg["padding"], cfg["dilation"],
                             cfg["groups"])
    assert {k: tuple(v.shape) for k, v in ours.state_dict().items()} == \
        {k: tuple(v.shape) for k, v in theirs.state_dict().items()}
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    x = rng.standard_normal((cfg["n"], cfg["cin"], *cfg["size"])).astype(np.float32)
    xt = torch.tensor(x, requires_grad=True)
    yt = theirs(xt)
    dy = rng.standard_normal(tuple(yt.shape)).astype(np.float32)
    yt.backward(torch.tensor(dy))
    xc = cn.Tensor(x, requires_grad=True)
    y = ours(xc)
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=1e-4, atol=1e-4)
    (y * cn.Tensor(dy)).sum().backward()
    np.testing.assert_allclose(xc.grad, xt.grad.numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(ours.weight.grad, theirs.weight.grad.numpy(), rtol=1e-4, atol=2e-4)
    np.testing.assert_allclose(ours.bias.grad, theirs.bias.grad.numpy(), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("cfg", TORCH_CASES)
def test_conv3d_layer_matches_torch(cfg, rng):
    layer_matches_torch(cfg, rng)


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
@pytest.mark.parametrize("padding", [(1, 2, 1), "same"])
def test_conv3d_padding_modes_match_torch(mode, padding, rng):
    torch = pytest.importorskip("torch")
    kernel = (3, 4, 5) if padding == "same" else 3   # 'same' with even kernels pads asymmetrically
    theirs = torch.nn.Conv3d(2, 3, kernel, padding=padding, padding_mode=mode)
    ours = nn.Conv3d(2, 3, kernel, padding=padding, padding_mode=mode)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    x = rng.standard_normal((2, 2, 4, 5, 6)).astype(np.float32)
    xt = torch.tensor(x, requires_grad=True)
    yt = theirs(xt)
    dy = rng.standard_normal(tuple(yt.shape)).astype(np.float32)
    yt.backward(torch.tensor(dy))
    xc = cn.Tensor(x, requires_grad=True)
    y = ours(xc)
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=1e-4, atol=1e-4)
    (y * cn.Tensor(dy)).sum().backward()
    assert np.abs(xc.grad).max() > 0
    np.testing.assert_allclose(xc.grad, xt.grad.numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(ours.weight.grad, theirs.weight.grad.numpy(), rtol=1e-4, atol=2e-4)


@pytest.mark.parametrize("cfg", [
    dict(cin=3, cout=4, k=3, stride=2, padding=1, output_padding=1, groups=1, dilation=1, size=(3, 4, 5), n=2),
    dict(cin=4, cout=2, k=(2, 3, 3), stride=(1, 2, 2), padding=(0, 1, 0), output_padding=(0, 1, 0), groups=2,
         dilation=1, size=(4, 3, 3), n=1),
    dict(cin=2, cout=3, k=3, stride=1, padding=0, output_padding=1, groups=1, dilation=2, size=(3, 3, 4), n=1),
])
def test_conv_transpose3d_layer_matches_torch(cfg, rng):
    torch = pytest.importorskip("torch")
    args = (cfg["cin"], cfg["cout"], cfg["k"], cfg["stride"], cfg["padding"], cfg["output_padding"], cfg["groups"])
    ours = nn.ConvTranspose3d(*args, dilation=cfg["dilation"])
    theirs = torch.nn.ConvTranspose3d(*args, dilation=cfg["dilation"])
    assert {k: tuple(v.shape) for k, v in ours.state_dict().items()} == \
        {k: tuple(v.shape) for k, v in theirs.state_dict().items()}
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    x = rng.standard_normal((cfg["n"], cfg["cin"], *cfg["size"])).astype(np.float32)
    xt = torch.tensor(x, requires_grad=True)
    yt = theirs(xt)
    dy = rng.standard_normal(tuple(yt.shape)).astype(np.float32)
    yt.backward(torch.tensor(dy))
    xc = cn.Tensor(x, requires_grad=True)
    y = ours(xc)
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=1e-4, atol=1e-4)
    (y * cn.Tensor(dy)).sum().backward()
    np.testing.assert_allclose(xc.grad, xt.grad.numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(ours.weight.grad, theirs.weight.grad.numpy(), rtol=1e-4, atol=2e-4)
    np.testing.assert_allclose(ours.bias.grad, theirs.bias.grad.numpy(), rtol=1e-4, atol=1e-4)


def test_conv_transpose3d_output_size_follows_torch(rng):
    torch = pytest.importorskip("torch")
    theirs = torch.nn.ConvTranspose3d(2, 3, 3, stride=(2, 3, 2), padding=1)
    ours = nn.ConvTranspose3d(2, 3, 3, stride=(2, 3, 2), padding=1)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    x = rng.standard_normal((1, 2, 3, 3, 4)).astype(np.float32)
    for size in [(6, 7, 8), (5, 9, 7), [1, 3, 6, 8, 8]]:
        expected = theirs(torch.tensor(x), output_size=list(size)).detach().numpy()
        np.testing.assert_allclose(ours(x, output_size=size), expected, rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="valid sizes range from"):
        ours(x, output_size=(7, 7, 8))


def test_default_init_matches_torch_bounds():
    # torch: weight kaiming_uniform(a=sqrt(5)) and bias U(+-1/sqrt(fan_in)), both bounded by
    # 1/sqrt(fan_in), fan_in = weight.shape[1] * kernel volume (out_channels/groups * k^3
    # for the transposed layer).
    torch = pytest.importorskip("torch")
    nn.init.manual_seed(0)
    torch.manual_seed(0)
    for ours, theirs in ((nn.Conv3d(8, 16, 3, groups=2), torch.nn.Conv3d(8, 16, 3, groups=2)),
                         (nn.ConvTranspose3d(8, 16, 3, groups=2), torch.nn.ConvTranspose3d(8, 16, 3, groups=2))):
        bound = 1 / np.sqrt(ours.weight.shape[1] * 27)
        for name in ("weight", "bias"):
            a, t = getattr(ours, name).numpy(), getattr(theirs, name).detach().numpy()
            assert a.shape == t.shape
            assert np.abs(t).max() <= bound * (1 + 1e-6)  # the formula is torch's
            assert np.abs(a).max() <= bound * (1 + 1e-6)
            assert np.abs(a).max() >= 0.5 * bound


def test_functional_names():
    assert nn.functional.conv3d is ops.conv3d
    assert nn.functional.conv_transpose3d is ops.conv_transpose3d


# --- bad arguments ----------------------------------------------------------------------------

@pytest.mark.parametrize("call, error, words", [
    (lambda x, w: ops.conv3d(x[0, 0], w), ValueError, "input must be (N, C, D, H, W)"),
    (lambda x, w: ops.conv3d(None, w), TypeError, "input must be an array, got None"),
    (lambda x, w: ops.conv3d_weight(x, w.shape, None), TypeError, "grad_output must be an array, got None"),
    (lambda x, w: ops.conv3d(x, w[0]), ValueError, "weight must be 5-D"),
    (lambda x, w: ops.conv3d(x, w, groups=2), ValueError, "groups=2"),
    (lambda x, w: ops.conv3d(x, w, stride=0), ValueError, "stride"),
    (lambda x, w: ops.conv3d(x, w, stride=(1, 2)), ValueError, "3-tuple"),
    (lambda x, w: ops.conv3d(x, w, padding=-1), ValueError, "padding must be >= 0"),
    (lambda x, w: ops.conv3d(x, w, padding="same", stride=2), ValueError, "stride 1"),
    (lambda x, w: ops.conv3d(x, w, padding="full"), ValueError, "'same' or 'valid'"),
    (lambda x, w: ops.conv3d(x, w, dilation=4), ValueError, "does not fit the input depth 4"),
    (lambda x, w: ops.conv3d(x, w, groups=1.5), TypeError, "groups must be an int"),
    (lambda x, w: ops.conv3d(x, w, np.ones(3)), ValueError, "bias must have shape (4,)"),
    (lambda x, w: ops.conv3d(x.astype(np.complex64), w), TypeError, "real"),
    (lambda x, w: ops.conv3d(x, w, algo="depthwise"), ValueError, "algo='depthwise' needs groups"),
    (lambda x, w: ops.conv3d(x, w, algo="fft"), ValueError, "algo must be"),
    (lambda x, w: ops.conv3d(x, w, stride=2 ** 63), OverflowError, "int64"),
    (lambda x, w: ops.conv3d_input((2, 3, 4, 5, 6), w, np.ones((2, 4, 1, 1, 1), np.float32)), ValueError,
     "grad_output has shape (2, 4, 1, 1, 1) but the convolution's output is (2, 4, 2, 3, 4)"),
    (lambda x, w: ops.conv3d_input((2, 3, 4, 5), w, x), ValueError, "input_size must be a 5-tuple"),
    (lambda x, w: ops.conv3d_weight(x, (4, 3, 3, 3), x), ValueError, "weight_size must be a 5-tuple"),
    (lambda x, w: ops.conv_transpose3d(x, w, output_padding=1), ValueError, "output_padding must be smaller"),
    (lambda x, w: ops.conv_transpose3d(x[:, :2], w), ValueError, "weight.shape[0] == in_channels"),
    (lambda x, w: nn.Conv3d(3, 4, 3, padding_mode="mirror"), ValueError, "padding_mode must be one of"),
    (lambda x, w: nn.ConvTranspose3d(3, 4, 3, padding_mode="circular"), ValueError, "padding_mode"),
    (lambda x, w: nn.Conv3d(3, 4, 0), ValueError, "kernel_size must be positive"),
    (lambda x, w: nn.Conv3d(3, 4, 3, groups=2), ValueError, "divisible by groups"),
    (lambda x, w: nn.Conv3d(3, 4, 3)(x[:, :2]), ValueError, "channels"),
    (lambda x, w: nn.Conv3d(3, 4, 3)(x[0, 0]), ValueError, "expected a (4, 5)-D input"),
    (lambda x, w: nn.ConvTranspose3d(3, 4, 3, stride=2, output_padding=2), ValueError, "output_padding"),
    (lambda x, w: nn.Conv3d(3, 4, 9).output_shape((3, 4, 5, 6)), ValueError, "does not fit"),
])
def test_bad_calls_name_the_argument(call, error, words):
    x = np.ones((2, 3, 4, 5, 6), np.float32)
    w = np.ones((4, 3, 3, 3, 3), np.float32)
    with pytest.raises(error, match=re.escape(words)):
        call(x, w)


def test_core_validates_sizes_before_allocating():
    from cnnnative import _core
    w = np.ones((1, 1, 1, 1, 1), np.float32)
    with pytest.raises(OverflowError):
        _core.conv3d_input((2 ** 40, 1, 2 ** 20, 2 ** 20, 1), w, np.ones((1, 1, 1, 1, 1), np.float32),
                           (1, 1, 1), (0,) * 6, (1, 1, 1), 1)
    with pytest.raises(ValueError, match="input depth must be >= 1"):
        _core.conv3d_input((1, 1, 0, 1, 1), w, np.ones((1, 1, 1, 1, 1), np.float32), (1, 1, 1), (0,) * 6,
                           (1, 1, 1), 1)


def test_empty_batch():
    x = np.ones((0, 2, 3, 3, 3), np.float32)
    w = np.ones((4, 2, 3, 3, 3), np.float32)
    assert ops.conv3d(x, w, None, 1, 1).shape == (0, 4, 3, 3, 3)
    dw, db = ops.conv3d_weight(x, w.shape, np.ones((0, 4, 3, 3, 3), np.float32), 1, 1, with_bias=True)
    assert not dw.any() and not db.any()


# --- compile ----------------------------------------------------------------------------------

def test_a_3d_model_compiles_with_an_n_c_d_h_w_input_shape(rng):
    model = nn.Sequential(nn.Conv3d(2, 4, 3, padding=1), nn.ReLU(), nn.Conv3d(4, 4, 3, groups=4, stride=2),
                          nn.ConvTranspose3d(4, 3, 2, stride=2), nn.Flatten(), nn.Linear(3 * 4 * 4 * 6, 5)).eval()
    x = rng.standard_normal((2, 2, 5, 5, 7)).astype(np.float32)
    compiled = cn.compile(model, (2, 2, 5, 5, 7))
    with cn.no_grad():
        expected = np.asarray(model(x))
    np.testing.assert_allclose(compiled(x), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(compiled(x[:1]), expected[:1], rtol=1e-5, atol=1e-5)


def test_a_torch_conv3d_model_compiles(rng):
    torch = pytest.importorskip("torch")
    model = torch.nn.Sequential(torch.nn.Conv3d(2, 3, 3, padding=1), torch.nn.ReLU(),
                                torch.nn.ConvTranspose3d(3, 2, 3, stride=2, padding=1, output_padding=1)).eval()
    x = rng.standard_normal((1, 2, 3, 4, 5)).astype(np.float32)
    with torch.no_grad():
        expected = model(torch.tensor(x)).numpy()
    np.testing.assert_allclose(cn.compile(model, x.shape)(x), expected, rtol=1e-4, atol=1e-4)
