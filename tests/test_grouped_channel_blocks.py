"""Grouped convolution with small groups in the compiled engine (conv/grouped_cblock.h:
16 channels per AVX-512 vector, for 4, 8, 16 or 32 channels per group, 3x3, stride 1 or 2)
against a float64 reference, with fused bias, residual and activation, NaN-prefilled
outputs (poison), under every ISA (other ISAs take the im2col path: same results).
Shapes: channel counts with a partial last block (RegNet's 104 = 6.5 blocks), odd planes,
asymmetric padding, batch 1 and 3, NaN and inf inputs.
"""
import numpy as np
import pytest

from cnnnative import _core, ops

# (C, groups, H, W, stride, pads (t, b, l, r))
CASES = [
    (16, 4, 9, 9, 1, (1, 1, 1, 1)),      # CG 4
    (40, 5, 11, 7, 1, (1, 1, 1, 1)),     # CG 8, partial block of 8
    (24, 3, 13, 13, 2, (1, 1, 1, 1)),    # CG 8, stride 2, partial block
    (32, 2, 7, 10, 1, (0, 2, 1, 1)),     # CG 16, asymmetric padding
    (48, 3, 15, 9, 2, (1, 0, 1, 0)),     # CG 16, stride 2
    (64, 2, 7, 7, 1, (1, 1, 1, 1)),      # CG 32
    (64, 2, 9, 8, 2, (1, 1, 1, 1)),      # CG 32, stride 2
    (104, 13, 6, 6, 1, (1, 1, 1, 1)),    # RegNet's width: CG 8, 6.5 blocks
]


def _reference(x, w, b, stride, pads, groups):
    t, bo, le, ri = pads
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (t, bo), (le, ri)))
    N, C, H, W = xp.shape
    K, cg, R, S = w.shape
    OH, OW = (H - R) // stride + 1, (W - S) // stride + 1
    y = np.zeros((N, K, OH, OW)) + b.astype(np.float64)[None, :, None, None]
    kg = K // groups
    for g in range(groups):
        for r in range(R):
            for s in range(S):
                win = xp[:, g * cg:(g + 1) * cg, r:r + stride * (OH - 1) + 1:stride, s:s + stride * (OW - 1) + 1:stride]
                wt = w[g * kg:(g + 1) * kg, :, r, s].astype(np.float64)
                with np.errstate(invalid="ignore"):
                    y[:, g * kg:(g + 1) * kg] += np.einsum("kc,nchw->nkhw", wt, win)
    return y


def _plan(shape, w, b, stride, pads, groups, act="none", residual=False):
    plan = _core.EnginePlan(list(shape))
    res = -1
    if residual:
        res = plan.add_conv(0, w, b[::-1].copy(), (stride, stride), pads, (1, 1), groups)
    y = plan.add_conv(0, w, b, (stride, stride), pads, (1, 1), groups, act, res)
    plan.finalize(y)
    return plan


@pytest.mark.parametrize("case", CASES, ids=lambda c: "C{}_g{}_{}x{}_s{}".format(*c[:5]))
@pytest.mark.parametrize("batch", [1, 3])
def test_grouped_conv_matches_float64(case, batch, isa, rng):
    C, groups, H, W, stride, pads = case
    x = rng.standard_normal((batch, C, H, W)).astype(np.float32)
    w = (rng.standard_normal((C, C // groups, 3, 3)) / np.sqrt(9 * C / groups)).astype(np.float32)
    b = rng.standard_normal(C).astype(np.float32)
    plan = _plan(x.shape, w, b, stride, pads, groups)
    node = plan.nodes()[-1]
    assert node["method"] == "im2col_gemm"
    assert node["lanes"] == ("channels" if isa == "avx512" else "pixels")
    got = plan.run(x, poison=True)
    want = _reference(x, w, b, stride, pads, groups)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("act", ["relu", "relu6", "silu"])
def test_grouped_conv_epilogue_and_nonfinite(act, isa, rng):
    """Residual + activation fused: equal to the unfused activation of the plain result;
    NaN and inf inputs reach exactly the outputs whose windows hold them."""
    C, groups, H, W, stride, pads = 40, 5, 9, 11, 1, (1, 1, 1, 1)
    x = (rng.standard_normal((2, C, H, W)) * 2).astype(np.float32)
    x[0, 3, 4, 5] = np.nan
    x[1, 17, 0, 0] = np.inf
    w = (rng.standard_normal((C, C // groups, 3, 3)) / 8).astype(np.float32)
    b = rng.standard_normal(C).astype(np.float32)
    plain = _plan(x.shape, w, b, stride, pads, groups, residual=True).run(x)
    got = _plan(x.shape, w, b, stride, pads, groups, act, residual=True).run(x, poison=True)
    unfused = {"relu": ops.relu, "relu6": ops.relu6, "silu": ops.silu}[act]
    np.testing.assert_array_equal(got, unfused(plain))
    want = _reference(x, w, b, stride, pads, groups) + _reference(x, w, b[::-1].copy(), stride, pads, groups)
    np.testing.assert_array_equal(np.isnan(plain), np.isnan(want))
    assert np.isnan(plain).any() and np.isfinite(plain).any()


@pytest.mark.parametrize("case", CASES[:5], ids=lambda c: "C{}_g{}_{}x{}_s{}".format(*c[:5]))
def test_eager_grouped_lanes_algorithm(case, isa, rng):
    """ops.conv2d(algo='grouped_lanes') against the reference (symmetric padding); 'auto'
    takes it on AVX-512 for up to 16 channels per group; elsewhere it is refused by name."""
    C, groups, H, W, stride, pads = case
    if pads[0] != pads[1] or pads[2] != pads[3]:
        pytest.skip("ops.conv2d pads symmetrically")
    x = rng.standard_normal((2, C, H, W)).astype(np.float32)
    w = (rng.standard_normal((C, C // groups, 3, 3)) / 6).astype(np.float32)
    b = rng.standard_normal(C).astype(np.float32)
    padding = (pads[0], pads[2])
    want = _reference(x, w, b, stride, pads, groups)
    if isa != "avx512":
        with pytest.raises(ValueError, match="grouped_lanes"):
            ops.conv2d(x, w, b, stride=stride, padding=padding, groups=groups, algo="grouped_lanes")
        return
    got = ops.conv2d(x, w, b, stride=stride, padding=padding, groups=groups, algo="grouped_lanes")
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    auto = ops.conv_algorithms(x.shape, w.shape, stride=stride, padding=padding, groups=groups)["auto"]
    assert C // groups <= 16 and auto == "grouped_lanes"


def test_grouped_conv_trains(rng):
    """A grouped Conv2d's forward (grouped_lanes on AVX-512) and backward (other algorithms)
    agree with finite differences."""
    from cnnnative import nn
    from cnnnative.tensor import Tensor
    conv = nn.Conv2d(16, 16, 3, padding=1, groups=4)
    x = rng.standard_normal((1, 16, 6, 6)).astype(np.float32)
    xt = Tensor(x, requires_grad=True)
    loss = (conv(xt) ** 2).sum()
    loss.backward()
    g = xt.grad if not hasattr(xt.grad, "numpy") else xt.grad.numpy()
    g = np.asarray(g)
    assert np.abs(g).max() > 0
    eps, idx = 1e-2, (0, 5, 2, 3)
    xp, xm = x.copy(), x.copy()
    xp[idx] += eps
    xm[idx] -= eps
    num = (float((conv(Tensor(xp)) ** 2).sum().item()) - float((conv(Tensor(xm)) ** 2).sum().item())) / (2 * eps)
    assert abs(num - g[idx]) <= 2e-2 * max(1.0, abs(num))
