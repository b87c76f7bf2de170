"""The sub-pixel transposed convolution's weight gradient on Winograd F(4x4, 3x3)
(C++ conv/conv_transpose_subpixel_wgrad.cc): the stacked 3x3 convolution's Winograd
weight gradient with the real taps gathered back. Checked against a float64 reference on
every ISA (odd sizes, output_padding, strides 2 and 3, batch 1 and > 1), against torch
through autograd, against finite differences, and for NaN/inf (the GEMM path runs)."""
import numpy as np
import pytest

import cnnnative as cn
from cnnnative import _core, ops
from cnnnative.ops import conv_transpose as ct


def reference_weight_grad(x, g, w_shape, stride, padding):
    """float64 grad_w[ci, co, kh, kw] = sum x[n, ci, i, j] g[n, co, i*sh - ph + kh, j*sw - pw + kw]."""
    x, g = x.astype(np.float64), g.astype(np.float64)
    (sh, sw), (ph, pw) = stride, padding
    n, c_in, h, w = x.shape
    oh, ow = g.shape[2:]
    gw = np.zeros(w_shape, np.float64)
    for kh in range(w_shape[2]):
        for kw in range(w_shape[3]):
            # output row i*sh - ph + kh for input row i, where it lies inside the output
            i = np.arange(h)
            j = np.arange(w)
            oi, oj = i * sh - ph + kh, j * sw - pw + kw
            vi, vj = (oi >= 0) & (oi < oh), (oj >= 0) & (oj < ow)
            xs = x[:, :, i[vi]][:, :, :, j[vj]]
            gs = g[:, :, oi[vi]][:, :, :, oj[vj]]
            gw[:, :, kh, kw] = np.einsum("nchw,nkhw->ck", xs, gs)
    return gw


def winograd_grad(x, g, w_shape, stride, padding, output_padding=0):
    """The new path called directly (None where it is not preferred)."""
    x4, w4, _, p = ct._checked_2d(x, np.zeros(w_shape, np.float32), None, stride, padding, output_padding, 1, 1)
    return _core.conv_transpose_subpixel_weight_grad(g, np.asarray(p.padded(x4), np.float32), tuple(w_shape),
                                                     *p.geometry)


def pair(v):
    return v if isinstance(v, tuple) else (v, v)


# (batch, C_in, C_out, H, W, kernel, stride, padding, output_padding)
CASES = [
    (4, 32, 16, 16, 16, 4, 2, 1, 0),      # DCGAN's layer, small: 64 tiles
    (6, 32, 16, 13, 11, 4, 2, 1, 1),      # odd sizes, output_padding: partial tiles
    (1, 32, 16, 32, 32, 4, 2, 1, 0),      # batch 1
    (4, 32, 16, 16, 16, 5, 2, 2, 1),      # 5x5 stride 2
    (4, 32, 16, 16, 16, 4, 2, 0, 0),      # no padding
    (4, 32, 17, 18, 14, 6, 3, 2, 2),      # stride 3, odd C_out
    (4, 33, 16, 16, 16, 4, 2, 3, 0),      # padding 3, odd C_in
    (4, 32, 16, 16, 16, (4, 3), (2, 1), (1, 1), 0),  # stride 2 along the height only
    (3, 37, 20, 17, 19, 4, 2, 1, 1),      # 20 channels: the blocked order's last row block holds 2 of 3
    (16, 40, 25, 4, 4, 4, 2, 1, 0),       # 16 tiles (DCGAN's first layer shape), 25 channels: last block 1
]


@pytest.mark.parametrize("case", CASES)
def test_matches_a_float64_reference_on_every_isa(isa, nan_scratch, case):
    n, c_in, c_out, h, w, k, s, p, op = case
    k2, s2, p2, op2 = pair(k), pair(s), pair(p), pair(op)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((n, c_in, h, w)).astype(np.float32)
    oh = (h - 1) * s2[0] - 2 * p2[0] + k2[0] + op2[0]
    ow = (w - 1) * s2[1] - 2 * p2[1] + k2[1] + op2[1]
    g = rng.standard_normal((n, c_out, oh, ow)).astype(np.float32)
    w_shape = (c_in, c_out) + k2
    got = winograd_grad(x, g, w_shape, s, p, op)
    assert got is not None, "the Winograd weight gradient should be preferred here"
    want = reference_weight_grad(x, g, w_shape, s2, p2)
    # Winograd F(4x4)'s error measure (winograd.h): |err| / (max|x| max|g| sqrt(terms)).
    terms = n * h * w
    err = np.abs(got - want).max() / (np.abs(x).max() * np.abs(g).max() * np.sqrt(terms))
    assert err < 8e-6, err
    assert np.abs(want).max() > 1.0


def test_few_tiles_channels_or_a_forced_algorithm_decline(monkeypatch):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 32, 8, 8)).astype(np.float32)       # 4 tiles of 4x4 stacked outputs
    assert winograd_grad(x, np.ones((1, 16, 16, 16), np.float32), (32, 16, 4, 4), 2, 1) is None
    # 16 tiles (16 images of 4x4 -> 8x8, DCGAN's first layer): taken where the 4 phases fit
    # the blocked order, declined at stride 3 (9 phases, the phase-major order needs 64).
    x = rng.standard_normal((16, 32, 4, 4)).astype(np.float32)
    assert winograd_grad(x, np.ones((16, 16, 8, 8), np.float32), (32, 16, 4, 4), 2, 1) is not None
    assert winograd_grad(x, np.ones((16, 16, 11, 11), np.float32), (32, 16, 6, 6), 3, 2) is None
    x = rng.standard_normal((4, 8, 16, 16)).astype(np.float32)      # 8 input channels
    assert winograd_grad(x, np.ones((4, 16, 32, 32), np.float32), (8, 16, 4, 4), 2, 1) is None
    x = rng.standard_normal((4, 32, 16, 16)).astype(np.float32)
    g = np.ones((4, 16, 32, 32), np.float32)
    assert winograd_grad(x, g, (32, 16, 4, 4), 2, 1) is not None
    assert winograd_grad(x, np.ones((4, 16, 32, 32), np.float32), (32, 16, 2, 2), 2, 0) is None  # 2x2/2
    monkeypatch.setenv("CNNNATIVE_ALGO", "im2col")
    assert winograd_grad(x, g, (32, 16, 4, 4), 2, 1) is None


def test_nonfinite_data_decline_and_autograd_keeps_torch_positions():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, 32, 16, 16)).astype(np.float32)
    g = rng.standard_normal((4, 16, 32, 32)).astype(np.float32)
    x[1, 3, 5, 7] = np.nan
    assert winograd_grad(x, g, (32, 16, 4, 4), 2, 1) is None
    x[1, 3, 5, 7] = 0.5
    g[2, 4, 7, 9] = np.inf
    assert winograd_grad(x, g, (32, 16, 4, 4), 2, 1) is None
    torch = pytest.importorskip("torch")
    w = (rng.standard_normal((32, 16, 4, 4)) * 0.1).astype(np.float32)
    W = cn.Tensor(w, requires_grad=True)
    ops.conv_transpose2d(cn.Tensor(x), W, None, 2, 1).backward(g)
    WT = torch.tensor(w, requires_grad=True)
    torch.nn.functional.conv_transpose2d(torch.tensor(x), WT, None, 2, 1).backward(torch.tensor(g))
    ours, theirs = np.asarray(W.grad), WT.grad.numpy()
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(theirs))
    np.testing.assert_array_equal(np.isposinf(ours), np.isposinf(theirs))
    np.testing.assert_array_equal(np.isneginf(ours), np.isneginf(theirs))
    assert np.isinf(theirs).any()


def test_autograd_weight_grad_matches_torch_and_finite_differences():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    x = rng.standard_normal((4, 32, 15, 13)).astype(np.float32)
    w = (rng.standard_normal((32, 16, 4, 4)) * 0.1).astype(np.float32)
    b = rng.standard_normal(16).astype(np.float32)
    y = ops.conv_transpose2d(x, w, b, 2, 1, 1)
    g = rng.standard_normal(y.shape).astype(np.float32)
    assert winograd_grad(x, g, w.shape, 2, 1, 1) is not None
    W = cn.Tensor(w, requires_grad=True)
    ops.conv_transpose2d(cn.Tensor(x), W, cn.Tensor(b), 2, 1, 1).backward(g)
    WT = torch.tensor(w, requires_grad=True)
    torch.nn.functional.conv_transpose2d(torch.tensor(x), WT, torch.tensor(b), 2, 1, 1).backward(torch.tensor(g))
    ours = np.asarray(W.grad)
    np.testing.assert_allclose(ours, WT.grad.numpy(), rtol=1e-4, atol=1e-4 * np.abs(ours).max())
    # Finite differences of sum(y * g) along a few weights (float64: exact up to rounding).
    x64, g64 = x.astype(np.float64), g.astype(np.float64)
    for idx in [(0, 0, 0, 0), (5, 7, 1, 2), (31, 15, 3, 3), (12, 3, 2, 0)]:
        eps = 1e-3
        wp, wm = w.astype(np.float64), w.astype(np.float64)
        wp[idx] += eps
        wm[idx] -= eps
        fp = (torch.nn.functional.conv_transpose2d(torch.tensor(x64), torch.tensor(wp), None, 2, 1, 1).numpy()
              * g64).sum()
        fm = (torch.nn.functional.conv_transpose2d(torch.tensor(x64), torch.tensor(wm), None, 2, 1, 1).numpy()
              * g64).sum()
        fd = (fp - fm) / (2 * eps)
        assert abs(fd) > 1e-2
        assert abs(ours[idx] - fd) <= 1e-3 * max(1.0, abs(fd)), (idx, ours[idx], fd)


def test_tiles_past_one_chunk_add_up():
    """8 x 32 x 32 tiles of 32 channels hold more than one 32 MiB chunk of transformed
    tiles (227 blocks of 32): the chunks' parts must sum to the GEMM path's gradient."""
    from cnnnative.ops import conv as _conv
    rng = np.random.default_rng(9)
    x = rng.standard_normal((8, 32, 128, 128)).astype(np.float32)
    g = rng.standard_normal((8, 16, 256, 256)).astype(np.float32)
    got = winograd_grad(x, g, (32, 16, 4, 4), 2, 1)
    assert got is not None
    _, _, _, p = ct._checked_2d(x, np.zeros((32, 16, 4, 4), np.float32), None, 2, 1, 0, 1, 1)
    want = _conv.conv2d_weight(g, (32, 16, 4, 4), x, *p.geometry)
    # Winograd's error measure (as above); a chunk lost or counted twice would be ~1e-3.
    err = np.abs(got - want).max() / (np.abs(x).max() * np.abs(g).max() * np.sqrt(8 * 128 * 128))
    assert err < 8e-6, err
