"""The sub-pixel path of conv_transpose2d (C++ conv/conv_transpose_subpixel.h): stride-s
layers whose phases read a 3x3 input window (DCGAN's 4x4 stride 2) run one stacked 3x3
convolution on Winograd and interleave its output. Checked against torch (values, both
gradients, NaN/inf placement), against its fallbacks, and compiled against eager."""
import numpy as np
import pytest

import cnnnative as cn
from cnnnative import nn, ops
from cnnnative.ops import conv_transpose as ct

torch = pytest.importorskip("torch")
F = torch.nn.functional


@pytest.fixture
def rng():
    return np.random.default_rng(7)


def takes_subpixel(x, w, stride, padding, output_padding=0, groups=1, dilation=1):
    """Whether ops.conv_transpose2d runs the sub-pixel path for this call (forward)."""
    x4, w4, _, p = ct._checked_2d(x, w, None, stride, padding, output_padding, groups, dilation)
    return ct._stacked_weight(w4, p, False) is not None


def close(got, want):
    scale = max(1.0, float(np.abs(want).max()))
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * scale)


def against_torch(x, w, b, stride, padding, output_padding=0, groups=1, dilation=1, seed=0):
    """Forward, grad_input, grad_weight, grad_bias of ours and torch's, compared."""
    y = ops.conv_transpose2d(x, w, b, stride, padding, output_padding, groups, dilation)
    g = np.random.default_rng(seed).standard_normal(y.shape).astype(np.float32)
    X, W, B = (cn.Tensor(a, requires_grad=True) for a in (x, w, b))
    ops.conv_transpose2d(X, W, B, stride, padding, output_padding, groups, dilation).backward(g)
    XT, WT, BT = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    yt = F.conv_transpose2d(XT, WT, BT, stride, padding, output_padding, groups, dilation)
    yt.backward(torch.tensor(g))
    close(y, yt.detach().numpy())
    for ours, theirs in ((X, XT), (W, WT), (B, BT)):
        close(np.asarray(ours.grad), theirs.grad.numpy())


# (batch, C_in, C_out, H, W, kernel, stride, padding, output_padding)
SUBPIXEL = [
    (4, 32, 16, 16, 16, 4, 2, 1, 0),      # DCGAN's layer, small
    (4, 32, 16, 15, 13, 4, 2, 1, 1),      # odd sizes, output_padding
    (1, 32, 16, 32, 32, 4, 2, 1, 0),      # batch 1
    (4, 32, 16, 16, 16, 5, 2, 2, 1),      # 5x5 stride 2: 6.25 taps a phase
    (4, 32, 16, 16, 16, 4, 2, 0, 0),      # no padding: a 2-wide window
    (4, 32, 16, 18, 14, 6, 3, 2, 2),      # stride 3
    (4, 32, 16, 16, 16, 4, 2, 3, 0),      # padding 3: the window starts at the pixel itself
    (4, 32, 16, 16, 16, (4, 3), (2, 1), (1, 1), 0),  # stride 2 along the height only
]


@pytest.mark.parametrize("case", SUBPIXEL)
def test_subpixel_layers_match_torch_with_both_gradients(rng, case):
    n, c_in, c_out, h, w_, k, s, p, op = case
    k2 = k if isinstance(k, tuple) else (k, k)
    x = rng.standard_normal((n, c_in, h, w_)).astype(np.float32)
    w = (rng.standard_normal((c_in, c_out) + k2) * 0.1).astype(np.float32)
    b = rng.standard_normal(c_out).astype(np.float32)
    assert takes_subpixel(x, w, s, p, op)
    against_torch(x, w, b, s, p, op)


@pytest.mark.parametrize("kw, why", [
    (dict(groups=2), "groups"),
    (dict(dilation=2), "dilation"),
    (dict(padding=4), "window past the padding"),
])
def test_geometries_without_a_decomposition_fall_back(rng, kw, why):
    x = rng.standard_normal((4, 32, 16, 16)).astype(np.float32)
    w = (rng.standard_normal((32, 16 // kw.get("groups", 1), 4, 4)) * 0.1).astype(np.float32)
    b = rng.standard_normal(16).astype(np.float32)
    args = dict(stride=2, padding=1, output_padding=0, groups=1, dilation=1)
    args.update(kw)
    assert not takes_subpixel(x, w, **args), why
    against_torch(x, w, b, **args)


def test_few_channels_or_tiles_keep_gemm_and_col2im(rng):
    w = np.ones((32, 16, 4, 4), np.float32)
    assert not takes_subpixel(np.ones((1, 32, 8, 8), np.float32), w, 2, 1)   # 4 tiles
    assert not takes_subpixel(np.ones((4, 8, 16, 16), np.float32), np.ones((8, 16, 4, 4), np.float32), 2, 1)
    assert not takes_subpixel(np.ones((4, 32, 16, 16), np.float32), np.ones((32, 16, 2, 2), np.float32), 2, 0)


def test_switches_turn_it_off(rng, monkeypatch):
    x = rng.standard_normal((4, 32, 16, 16)).astype(np.float32)
    w = (rng.standard_normal((32, 16, 4, 4)) * 0.1).astype(np.float32)
    assert takes_subpixel(x, w, 2, 1)
    cn.set_fast_algorithms(winograd=False)
    try:
        assert not takes_subpixel(x, w, 2, 1)
        against_torch(x, w, np.zeros(16, np.float32), 2, 1)
    finally:
        cn.set_fast_algorithms(winograd=True)
    monkeypatch.setenv("CNNNATIVE_ALGO", "im2col")
    assert not takes_subpixel(x, w, 2, 1)


def nonfinite_like_torch(x, w, g):
    """NaN/inf exactly where torch has them (forward and grad_input), the rest close."""
    y = ops.conv_transpose2d(x, w, None, 2, 1)
    X = cn.Tensor(x, requires_grad=True)
    ops.conv_transpose2d(X, cn.Tensor(w), None, 2, 1).backward(g)
    XT = torch.tensor(x, requires_grad=True)
    yt = F.conv_transpose2d(XT, torch.tensor(w), None, 2, 1)
    yt.backward(torch.tensor(g))
    for ours, theirs in ((y, yt.detach().numpy()), (np.asarray(X.grad), XT.grad.numpy())):
        np.testing.assert_array_equal(np.isnan(ours), np.isnan(theirs))
        np.testing.assert_array_equal(np.isposinf(ours), np.isposinf(theirs))
        np.testing.assert_array_equal(np.isneginf(ours), np.isneginf(theirs))
        finite = np.isfinite(theirs)
        close(ours[finite], theirs[finite])


def test_nan_and_inf_stay_where_torch_puts_them(rng):
    x = rng.standard_normal((4, 32, 16, 16)).astype(np.float32)
    w = (rng.standard_normal((32, 16, 4, 4)) * 0.1).astype(np.float32)
    assert takes_subpixel(x, w, 2, 1)
    g = rng.standard_normal((4, 16, 32, 32)).astype(np.float32)
    nonfinite_like_torch(x, w, g)
    x[1, 3, 5, 7] = np.nan
    x[2, 0, 0, 15] = np.inf
    g[0, 2, 9, 10] = np.nan
    g[3, 5, 31, 0] = -np.inf
    nonfinite_like_torch(x, w, g)


# The taps of all four phases. (Taps in row or column 0 or 3 also meet the input gradient's
# padding, where torch's kernels leave out 0 * NaN and im2col does not: not this test's subject.)
@pytest.mark.parametrize("c_out, value, tap", [(16, np.inf, (1, 2)), (16, np.nan, (1, 1)), (16, -np.inf, (2, 2)),
                                               (24, np.nan, (2, 1)), (24, np.inf, (1, 1))])
def test_a_nonfinite_weight_falls_back(rng, c_out, value, tap):
    """The shape still picks the sub-pixel path; the weight's NaN or inf is found while its
    filters are loaded for the transform (the forward, and the input gradient where C_out
    is a multiple of 16) or by a scan first (the input gradient at C_out 24), and GEMM +
    col2im gives torch's NaN/inf pattern."""
    x = rng.standard_normal((4, 32, 16, 16)).astype(np.float32)
    w = (rng.standard_normal((32, c_out, 4, 4)) * 0.1).astype(np.float32)
    w[3, 4, tap[0], tap[1]] = value
    assert takes_subpixel(x, w, 2, 1)
    nonfinite_like_torch(x, w, rng.standard_normal((4, c_out, 32, 32)).astype(np.float32))


def test_a_dcgan_generator_compiles_to_the_eager_output(rng):
    model = nn.Sequential(nn.ConvTranspose2d(64, 32, 4, 2, 1, bias=False), nn.BatchNorm2d(32), nn.ReLU(),
                          nn.ConvTranspose2d(32, 16, 4, 2, 1), nn.ReLU(),
                          nn.ConvTranspose2d(16, 3, 4, 2, 1), nn.Tanh()).eval()
    x = rng.standard_normal((4, 64, 16, 16)).astype(np.float32)
    compiled = cn.compile(model, (4, 64, 16, 16))
    with cn.no_grad():
        expected = np.asarray(model(x))
        first = np.asarray(model[0](x))
    assert takes_subpixel(x, np.asarray(model[0].weight), 2, 1)
    close(compiled(x), expected)
    close(compiled(x[:1]), expected[:1])
    close(cn.compile(model[0], (4, 64, 16, 16))(x), first)


def test_compiled_nan_and_inf_stay_where_torch_puts_them(rng):
    m = nn.ConvTranspose2d(32, 16, 4, 2, 1).eval()
    x = rng.standard_normal((4, 32, 16, 16)).astype(np.float32)
    compiled = cn.compile(m, x.shape)
    w, b = torch.tensor(np.asarray(m.weight)), torch.tensor(np.asarray(m.bias))
    close(compiled(x), F.conv_transpose2d(torch.tensor(x), w, b, 2, 1).numpy())
    x[0, 1, 2, 3] = np.nan
    x[3, 4, 15, 0] = -np.inf
    got, want = compiled(x), F.conv_transpose2d(torch.tensor(x), w, b, 2, 1).numpy()
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_array_equal(np.isneginf(got), np.isneginf(want))
    np.testing.assert_array_equal(np.isposinf(got), np.isposinf(want))
    finite = np.isfinite(want)
    close(got[finite], want[finite])
