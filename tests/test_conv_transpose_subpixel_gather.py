"""The sub-pixel transposed convolution without a built stacked weight: the Winograd
filter transform gathers the stacked 3x3 filters from the weight row block by row block
(C++ conv/winograd_gather.h). Forward and input gradient checked against a float64
reference and against the built-weight path on every ISA (odd sizes, output_padding,
strides 2 and 3, batch 1 and > 1), with NaN-filled scratch."""
import numpy as np
import pytest

from cnnnative import _core, ops
from cnnnative.ops import conv_transpose as ct


def reference_forward(x, w, stride, padding, out_hw):
    """float64 conv_transpose2d: y[n, co, i*sh - ph + kh, j*sw - pw + kw] += x[n, ci, i, j] w[ci, co, kh, kw]."""
    x, w = x.astype(np.float64), w.astype(np.float64)
    (sh, sw), (ph, pw) = stride, padding
    n, _, h, wd = x.shape
    oh, ow = out_hw
    y = np.zeros((n, w.shape[1], oh, ow))
    for kh in range(w.shape[2]):
        for kw in range(w.shape[3]):
            i, j = np.arange(h), np.arange(wd)
            oi, oj = i * sh - ph + kh, j * sw - pw + kw
            vi, vj = (oi >= 0) & (oi < oh), (oj >= 0) & (oj < ow)
            contrib = np.einsum("nchw,ck->nkhw", x[:, :, i[vi]][:, :, :, j[vj]], w[:, :, kh, kw])
            y[:, :, oi[vi][:, None], oj[vj][None, :]] += contrib
    return y


def pair(v):
    return v if isinstance(v, tuple) else (v, v)


# (batch, C_in, C_out, H, W, kernel, stride, padding, output_padding)
CASES = [
    (4, 32, 16, 16, 16, 4, 2, 1, 0),
    (6, 32, 16, 13, 11, 4, 2, 1, 1),      # odd sizes, output_padding
    (1, 32, 16, 32, 32, 4, 2, 1, 0),      # batch 1
    (16, 64, 32, 4, 4, 4, 2, 1, 0),       # DCGAN's first layer shape, small: 16 tiles
    (4, 32, 16, 16, 16, 5, 2, 2, 1),      # 5x5 stride 2
    (4, 32, 17, 18, 14, 6, 3, 2, 2),      # stride 3, odd C_out
    (4, 33, 16, 16, 16, 4, 2, 3, 0),      # padding 3, odd C_in
    (4, 32, 16, 16, 16, (4, 3), (2, 1), (1, 1), 0),  # stride 2 along the height only
    # Phase-major stacked channels: 24 and 40 outputs per phase put 16-channel panels and
    # 12-row blocks across two phases (the phase filter transform's fallback, the union of
    # two phases' transform points); odd C_in and sizes.
    (3, 37, 24, 9, 7, 4, 2, 1, 1),
    (4, 48, 40, 8, 8, 4, 2, 1, 0),
]


@pytest.mark.parametrize("case", CASES)
def test_gathered_filters_match_the_reference_and_the_built_weight(isa, nan_scratch, case):
    n, c_in, c_out, h, w_, k, s, p, op = case
    rng = np.random.default_rng(11)
    x = rng.standard_normal((n, c_in, h, w_)).astype(np.float32)
    w = (rng.standard_normal((c_in, c_out) + pair(k)) * 0.1).astype(np.float32)
    x4, w4, _, plan = ct._checked_2d(x, w, None, s, p, op, 1, 1)
    assert ct._stacked_weight(w4, plan, False) is ct._GATHERED
    xp = np.asarray(plan.padded(x4), np.float32)
    gathered = _core.conv_transpose_subpixel(xp, w4, None, plan.conv_size, *plan.geometry)
    built = _core.conv_transpose_subpixel_weight(w4, plan.conv_size, *plan.geometry, False)
    assert built is not None
    with_built = _core.conv_transpose_subpixel(xp, w4, built, plan.conv_size, *plan.geometry)
    np.testing.assert_allclose(gathered, with_built, rtol=0, atol=1e-5 * np.abs(with_built).max())
    want = reference_forward(x, w, pair(s), pair(p), gathered.shape[2:])
    terms = c_in * 4  # about the taps a phase sums per input channel
    err = np.abs(gathered - want).max() / (np.abs(x).max() * np.abs(w).max() * np.sqrt(terms))
    assert err < 8e-6, err
    # The input gradient: grad_x = conv2d(grad_y, w) (the convolution's forward), float64.
    g = rng.standard_normal(gathered.shape).astype(np.float32)
    gx = _core.conv_transpose_subpixel_input_grad(g, w4, None, *plan.geometry)
    gx_built = _core.conv_transpose_subpixel_input_grad(g, w4, built, *plan.geometry)
    np.testing.assert_allclose(gx, gx_built, rtol=0, atol=1e-5 * np.abs(gx_built).max())
    # <conv_transpose(x), g> = <x, grad_x>: the adjoint identity in float64
    lhs = float((want * g.astype(np.float64)).sum())
    rhs = float((xp.astype(np.float64) * gx.astype(np.float64)).sum())
    assert abs(lhs - rhs) <= 1e-4 * np.abs(want).sum() ** 0.5 * np.abs(g).max() + 1e-5 * abs(lhs)


def test_a_nonfinite_weight_given_to_the_gathered_path_runs_gemm():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((4, 32, 16, 16)).astype(np.float32)
    w = (rng.standard_normal((32, 16, 4, 4)) * 0.1).astype(np.float32)
    x4, w4, _, plan = ct._checked_2d(x, w, None, 2, 1, 0, 1, 1)
    w4 = w4.copy()
    w4[3, 4, 1, 2] = np.inf
    got = _core.conv_transpose_subpixel(x4, w4, None, plan.conv_size, *plan.geometry)
    want = ops.conv_transpose2d(x, w4, None, 2, 1)  # routed to GEMM + col2im (weight not finite)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_array_equal(np.isinf(got), np.isinf(want))
    finite = np.isfinite(want)
    np.testing.assert_allclose(got[finite], want[finite], rtol=1e-5, atol=1e-5)


def test_the_bias_added_while_interleaving_and_on_the_nonfinite_fallback():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    x = rng.standard_normal((4, 32, 16, 16)).astype(np.float32)
    w = (rng.standard_normal((32, 16, 4, 4)) * 0.1).astype(np.float32)
    b = rng.standard_normal(16).astype(np.float32)
    x4, w4, _, plan = ct._checked_2d(x, w, None, 2, 1, 0, 1, 1)
    assert ct._stacked_weight(w4, plan, False) is ct._GATHERED
    for poison in (False, True):  # finite: interleave adds it; NaN/inf in x: GEMM + col2im, then the bias
        if poison:
            x[1, 3, 5, 7] = np.nan
            x[2, 0, 0, 15] = -np.inf
        got = ops.conv_transpose2d(x, w, b, 2, 1)
        want = torch.nn.functional.conv_transpose2d(torch.tensor(x), torch.tensor(w), torch.tensor(b), 2, 1).numpy()
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
        np.testing.assert_array_equal(np.isinf(got), np.isinf(want))
        finite = np.isfinite(want)
        np.testing.assert_allclose(got[finite], want[finite], rtol=1e-4, atol=1e-4)


def test_training_steps_with_the_weight_updated_in_place_follow_torch():
    """Nothing about the stacked filters outlives a call: SGD steps that change the weight
    in place give torch's forward and gradients at every step."""
    torch = pytest.importorskip("torch")
    from cnnnative import nn
    rng = np.random.default_rng(8)
    m = nn.ConvTranspose2d(32, 16, 4, 2, 1)
    mt = torch.nn.ConvTranspose2d(32, 16, 4, 2, 1)
    with torch.no_grad():
        mt.weight.copy_(torch.tensor(np.asarray(m.weight)))
        mt.bias.copy_(torch.tensor(np.asarray(m.bias)))
    x = rng.standard_normal((4, 32, 16, 16)).astype(np.float32)
    g = rng.standard_normal((4, 16, 32, 32)).astype(np.float32)
    previous = None
    for _ in range(3):
        m.weight.grad = m.bias.grad = None
        mt.zero_grad()
        y = m(cn_tensor(x))
        yt = mt(torch.tensor(x))
        out = np.asarray(y)
        np.testing.assert_allclose(out, yt.detach().numpy(), rtol=1e-4, atol=1e-5 * np.abs(out).max())
        if previous is not None:
            assert np.abs(out - previous).max() > 1e-2  # the in-place step changed the layer
        previous = out.copy()
        y.backward(g)
        yt.backward(torch.tensor(g))
        gw = np.asarray(m.weight.grad)
        np.testing.assert_allclose(gw, mt.weight.grad.numpy(), rtol=1e-4, atol=1e-4 * np.abs(gw).max())
        w_now = np.asarray(m.weight)
        w_now -= 1e-3 * gw  # in place, as an optimizer does
        with torch.no_grad():
            mt.weight -= 1e-3 * mt.weight.grad


def cn_tensor(a):
    import cnnnative as cn
    return cn.Tensor(a)
