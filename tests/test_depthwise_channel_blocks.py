"""The channel-blocked depthwise kernel (conv/depthwise_cblock.h: 16 channels per AVX-512
vector, bands of output rows, transposes in and out) against a float64 reference, in the
engine (fused bias, residual, ReLU / ReLU6 / Hardswish / PReLU) and in eager ops.

Both layouts are forced in turn with `_core._force_depthwise_layout`; under ISAs without
AVX-512 'channels' falls back to the per-plane kernels, so every case runs under every ISA.
Shapes cover channel counts that leave a partial block (2, 5, 17, 40), odd planes narrower
and wider than 16, kernels 3/5/7 (and R != S), strides 1 and 2, asymmetric padding,
batch 1 and 3, plus NaN and inf inputs.
"""
import numpy as np
import pytest

from cnnnative import _core, ops

# (C, H, W, R, S, stride, pads (t, b, l, r))
SHAPES = [
    (2, 7, 7, 3, 3, 1, (1, 1, 1, 1)),
    (5, 9, 13, 5, 5, 1, (2, 2, 2, 2)),
    (17, 14, 14, 5, 5, 2, (2, 2, 2, 2)),
    (16, 7, 7, 3, 3, 2, (1, 1, 1, 1)),
    (40, 23, 19, 7, 7, 2, (3, 3, 3, 3)),
    (33, 11, 37, 3, 5, 1, (0, 2, 1, 3)),
    (24, 30, 31, 3, 3, 2, (0, 1, 0, 1)),
    (48, 6, 5, 7, 3, 1, (3, 3, 1, 1)),
]


@pytest.fixture
def layout():
    yield lambda name: _core._force_depthwise_layout(name)
    _core._force_depthwise_layout("auto")


def _reference(x, w, b, stride, pads, residual=None):
    """float64 depthwise correlation with zero padding (t, b, l, r)."""
    t, bo, le, ri = pads
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (t, bo), (le, ri)))
    N, C, H, W = xp.shape
    R, S = w.shape[2:]
    OH, OW = (H - R) // stride + 1, (W - S) // stride + 1
    y = np.zeros((N, C, OH, OW)) + b.astype(np.float64)[None, :, None, None]
    for r in range(R):
        for s in range(S):
            win = xp[:, :, r:r + stride * (OH - 1) + 1:stride, s:s + stride * (OW - 1) + 1:stride]
            with np.errstate(invalid="ignore"):
                y += win * w[:, 0, r, s].astype(np.float64)[None, :, None, None]
    return y if residual is None else y + residual


def _plan(shape, w, b, stride, pads, act="none", slope=None, residual=False):
    plan = _core.EnginePlan(list(shape))
    C = shape[1]
    res = -1
    if residual:  # a first depthwise conv gives the residual operand its shape
        res = plan.add_conv(0, w, b[::-1].copy(), (stride, stride), pads, (1, 1), C)
    y = plan.add_conv(0, w, b, (stride, stride), pads, (1, 1), C, act, res, slope)
    plan.finalize(y)
    return plan


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "C{}_{}x{}_k{}x{}_s{}".format(*s[:6]))
@pytest.mark.parametrize("batch", [1, 3])
def test_engine_depthwise_matches_float64(shape, batch, isa, layout, rng):
    C, H, W, R, S, stride, pads = shape
    x = rng.standard_normal((batch, C, H, W)).astype(np.float32)
    w = (rng.standard_normal((C, 1, R, S)) / np.sqrt(R * S)).astype(np.float32)
    b = rng.standard_normal(C).astype(np.float32)
    want = _reference(x, w, b, stride, pads)
    results = {}
    for name in ("channels", "planes"):
        layout(name)
        plan = _plan(x.shape, w, b, stride, pads)
        node = plan.nodes()[-1]
        assert node["method"] == "depthwise"
        assert node["lanes"] == ("channels" if name == "channels" and isa == "avx512" else "pixels")
        got = plan.run(x, poison=True)
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-5, err_msg=name)
        results[name] = got
    np.testing.assert_allclose(results["channels"], results["planes"], rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("act", ["relu", "relu6", "hardswish", "prelu"])
@pytest.mark.parametrize("residual", [False, True])
def test_engine_depthwise_epilogue(act, residual, isa, layout, rng):
    """Bias, residual and activation fused: equal to the unfused activation of the plain
    node's output (plus the residual), bit for bit, NaN included."""
    C, H, W, R, S, stride, pads = 21, 9, 11, 5, 5, 1, (2, 2, 2, 2)
    x = (rng.standard_normal((2, C, H, W)) * 3).astype(np.float32)
    x[0, 3, 4, 5] = np.nan
    x[1, 20, 0, 0] = np.inf
    w = (rng.standard_normal((C, 1, R, S)) / 5).astype(np.float32)
    b = rng.standard_normal(C).astype(np.float32)
    slope = rng.uniform(-1, 1, C).astype(np.float32) if act == "prelu" else None
    layout("channels")
    plain = _plan(x.shape, w, b, stride, pads, residual=residual).run(x)
    plan = _plan(x.shape, w, b, stride, pads, act, slope, residual)
    got = plan.run(x, poison=True)
    unfused = {"relu": ops.relu, "relu6": ops.relu6, "hardswish": ops.hardswish,
               "prelu": lambda y: np.where(y > 0, y, y * slope[None, :, None, None])}[act]
    np.testing.assert_array_equal(got, unfused(plain))
    # the NaN and the inf reach exactly the outputs whose windows hold them
    want = _reference(x, w, b, stride, pads)
    if residual:
        want = want + _reference(x, w, b[::-1].copy(), stride, pads)
    np.testing.assert_array_equal(np.isnan(plain), np.isnan(want))
    assert np.isnan(plain).sum() > 0 and np.isfinite(plain).sum() > 0


@pytest.mark.parametrize("shape", SHAPES[:5], ids=lambda s: "C{}_{}x{}_k{}x{}_s{}".format(*s[:6]))
def test_eager_depthwise_matches_float64(shape, isa, layout, rng):
    C, H, W, R, S, stride, pads = shape
    t, bo, le, ri = pads
    x = rng.standard_normal((2, C, H, W)).astype(np.float32)
    w = rng.standard_normal((C, 1, R, S)).astype(np.float32)
    b = rng.standard_normal(C).astype(np.float32)
    if (t, le) != (bo, ri):
        pytest.skip("ops.conv2d pads symmetrically")
    want = _reference(x, w, b, stride, pads)
    for name in ("channels", "planes", "auto"):
        layout(name)
        got = ops.conv2d(x, w, b, stride=stride, padding=(t, le), groups=C)
        np.testing.assert_allclose(got, want, rtol=2e-5, atol=1e-4, err_msg=name)


def test_layout_names_are_checked():
    with pytest.raises(ValueError, match="layout"):
        _core._force_depthwise_layout("nchwc")


def test_threads_split_bands_and_blocks(layout, rng):
    """More threads than (image, block) items: the bands are cut so each thread gets some;
    results do not depend on the thread count."""
    import cnnnative as cn
    x = rng.standard_normal((1, 16, 28, 28)).astype(np.float32)
    w = rng.standard_normal((16, 1, 5, 5)).astype(np.float32)
    b = rng.standard_normal(16).astype(np.float32)
    layout("channels")
    before = cn.get_num_threads()
    try:
        outs = []
        for threads in (1, 2, 4):
            cn.set_num_threads(threads)
            outs.append(_plan(x.shape, w, b, 1, (2, 2, 2, 2)).run(x, poison=True))
    finally:
        cn.set_num_threads(before)
    np.testing.assert_array_equal(outs[0], outs[1])
    np.testing.assert_array_equal(outs[0], outs[2])
