"""Fast convolution algorithms (Winograd, tiled FFT, direct depthwise) against float64
references.

Error measure for Winograd (documented in cnnnative/winograd.h and ops/fastconv.py):
    max|y - y_exact| / (max|x| * max|w| * sqrt(reduction length))
The reduction length is C/groups * 9. Direct/im2col sums have error ~ n * 2^-24 of the
sum of |products|; Winograd adds the transforms' growth (entries up to 5.25 in B^T and
32 in A^T for F(6x6)), hence the looser per-tile bounds.
"""
import threading

import numpy as np
import pytest

import ref_conv_fast as ref
from ref_conv_fast import normalized_error
from cnnnative import _core, ops
from cnnnative.ops import fastconv

WINOGRAD = ["winograd2x2", "winograd4x4", "winograd6x6"]
BOUND = fastconv.WINOGRAD_ERROR_BOUND
# direct sums at most R*S products per output in float32, each product of unit size:
# relative to sqrt(n)*max|x|*max|w| the error stays below ~1e-6; 5e-6 leaves margin.
DIRECT_BOUND = 5e-6


# Every scratch buffer starts as NaN (conftest.nan_scratch).
pytestmark = pytest.mark.usefixtures("nan_scratch")


def nan_output_check(y):
    assert np.isfinite(y).all(), "kernel left NaN (forgotten element or NaN scratch read)"


# (N, C, H, W, K, padding, groups): odd sizes around the tile sizes 2/4/6 (+2 halo),
# 1x1 spatial, channels not multiples of 16, primes, asymmetric and large padding.
WINOGRAD_SHAPES = [
    (1, 1, 1, 1, 1, (1, 1, 1, 1), 1),
    (1, 3, 3, 3, 5, (0, 0, 0, 0), 1),
    (2, 17, 13, 11, 19, (0, 2, 1, 0), 1),
    (1, 16, 8, 8, 16, (1, 1, 1, 1), 1),
    (3, 5, 7, 9, 13, (1, 1, 1, 1), 1),
    (1, 12, 10, 14, 25, (3, 2, 0, 3), 1),
    (2, 6, 9, 9, 4, (1, 1, 1, 1), 2),
    (1, 8, 6, 6, 8, (1, 1, 1, 1), 4),
    (1, 33, 23, 29, 31, (1, 1, 1, 1), 1),
]


@pytest.mark.parametrize("algo", WINOGRAD)
@pytest.mark.parametrize("shape", WINOGRAD_SHAPES)
def test_winograd_forward(isa, rng, algo, shape):
    N, C, H, W, K, pad, g = shape
    x = rng.standard_normal((N, C, H, W)).astype(np.float32)
    w = rng.standard_normal((K, C // g, 3, 3)).astype(np.float32)
    b = rng.standard_normal(K).astype(np.float32)
    y = ops.conv2d(x, w, b, padding=pad, groups=g, algo=algo)
    exact = ref.conv2d(x, w, b, padding=pad, groups=g)
    assert y.shape == exact.shape
    nan_output_check(y)
    assert normalized_error(y, exact, x, w, C // g * 9) <= BOUND[algo]


@pytest.mark.parametrize("algo", WINOGRAD)
@pytest.mark.parametrize("shape", WINOGRAD_SHAPES)
def test_winograd_backward_input(isa, rng, algo, shape):
    N, C, H, W, K, pad, g = shape
    w = rng.standard_normal((K, C // g, 3, 3)).astype(np.float32)
    OH, OW = ref.out_size(H, W, 3, 3, (1, 1), pad, (1, 1))
    dy = rng.standard_normal((N, K, OH, OW)).astype(np.float32)
    dx = ops.conv2d_input((N, C, H, W), w, dy, padding=pad, groups=g, algo=algo)
    exact = ref.conv2d_input((N, C, H, W), w, dy, padding=pad, groups=g)
    nan_output_check(dx)
    assert normalized_error(dx, exact, dy, w, K // g * 9) <= BOUND[algo]


def test_winograd_input_gradient_by_finite_differences(rng):
    """d/dx of sum(conv(x, w) * dy) by central differences on the float64 reference
    equals the Winograd input gradient (which must also be non-zero)."""
    N, C, H, W, K, pad = 1, 2, 5, 6, 3, (1, 0, 2, 1)
    x = rng.standard_normal((N, C, H, W))
    w = rng.standard_normal((K, C, 3, 3)).astype(np.float32)
    dy = rng.standard_normal(ref.conv2d(x, w, padding=pad).shape).astype(np.float32)
    dx = ops.conv2d_input((N, C, H, W), w, dy, padding=pad, algo="winograd4x4")
    assert np.abs(dx).max() > 0.1
    eps = 1e-6
    fd = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[idx] += eps
        xm[idx] -= eps
        fd[idx] = ((ref.conv2d(xp, w, padding=pad) - ref.conv2d(xm, w, padding=pad)) * dy).sum() / (2 * eps)
    # float32 Winograd vs float64 differences: the F(4x4) bound times the problem scale.
    assert np.abs(dx - fd).max() <= 1e-4 * np.abs(fd).max()


@pytest.mark.parametrize("algo", WINOGRAD + ["winograd"])
def test_winograd_zeros_and_large_magnitudes(rng, algo):
    x = np.zeros((2, 7, 10, 10), np.float32)
    w = rng.standard_normal((5, 7, 3, 3)).astype(np.float32)
    y = ops.conv2d(x, w, padding=1, algo=algo)
    assert np.all(y == 0)
    x = (rng.standard_normal((2, 7, 10, 10)) * 1e4).astype(np.float32)
    w = (w * 1e3).astype(np.float32)
    y = ops.conv2d(x, w, padding=1, algo=algo)
    nan_output_check(y)
    bound = BOUND.get(algo, BOUND["winograd6x6"])
    assert normalized_error(y, ref.conv2d(x, w, padding=1), x, w, 63) <= bound


def test_winograd_large_channels(rng):
    """More channels than one packed row block (12) and a chunk of several tile blocks."""
    x = rng.standard_normal((2, 70, 30, 30)).astype(np.float32)
    w = rng.standard_normal((50, 70, 3, 3)).astype(np.float32)
    exact = ref.conv2d(x, w, padding=1)
    for algo in WINOGRAD:
        y = ops.conv2d(x, w, padding=1, algo=algo)
        assert normalized_error(y, exact, x, w, 630) <= BOUND[algo], algo


def test_winograd_threads_agree(rng):
    x = rng.standard_normal((1, 8, 40, 40)).astype(np.float32)
    w = rng.standard_normal((8, 8, 3, 3)).astype(np.float32)
    before = _core.get_num_threads()
    try:
        _core.set_num_threads(1)
        y1 = ops.conv2d(x, w, padding=1, algo="winograd4x4")
        _core.set_num_threads(2)
        y2 = ops.conv2d(x, w, padding=1, algo="winograd4x4")
    finally:
        _core.set_num_threads(before)
    np.testing.assert_array_equal(y1, y2)


@pytest.mark.parametrize("kwargs,reason", [
    (dict(w=(4, 3, 5, 5)), "3x3"),
    (dict(stride=2), "stride 1"),
    (dict(dilation=2), "dilation 1"),
])
def test_winograd_unsupported_shapes_raise(kwargs, reason):
    x = np.ones((1, 3, 12, 12), np.float32)
    w = np.ones(kwargs.pop("w", (4, 3, 3, 3)), np.float32)
    for algo in WINOGRAD + ["winograd"]:
        with pytest.raises(ValueError, match=reason):
            ops.conv2d(x, w, padding=1, algo=algo, **kwargs)


def test_fast_algorithm_switch():
    x = np.ones((1, 16, 32, 32), np.float32)
    w = np.ones((16, 16, 3, 3), np.float32)
    assert ops.conv_algorithms(x.shape, w.shape, padding=1)["auto"].startswith("winograd")
    fastconv.set_fast_algorithms(winograd=False, fft=True)
    try:
        assert fastconv.get_fast_algorithms() == {"winograd": False, "fft": True}
        assert not ops.conv_algorithms(x.shape, w.shape, padding=1)["auto"].startswith("winograd")
        with pytest.raises(ValueError, match="switched off"):
            ops.conv2d(x, w, padding=1, algo="winograd4x4")
        np.testing.assert_allclose(ops.conv2d(x, w, padding=1), ref.conv2d(x, w, padding=(1, 1, 1, 1)),
                                   rtol=1e-5)
    finally:
        fastconv.set_fast_algorithms(winograd=True, fft=True)


def test_empty_batch_and_noncontiguous(rng):
    w = rng.standard_normal((4, 6, 3, 3)).astype(np.float32)
    for algo in WINOGRAD:
        assert ops.conv2d(np.zeros((0, 6, 5, 5), np.float32), w, padding=1, algo=algo).shape == (0, 4, 5, 5)
    x = rng.standard_normal((2, 6, 9, 11)).astype(np.float64)[:, :, ::-1, :]  # float64, negative strides
    y = ops.conv2d(x, w, padding=1, algo="winograd4x4")
    assert normalized_error(y, ref.conv2d(x, w, padding=(1, 1, 1, 1)), x, w, 54) <= BOUND["winograd4x4"]


@pytest.mark.parametrize("activation", ["none", "relu", "relu6"])
@pytest.mark.parametrize("tile", [2, 4, 6])
def test_winograd_prepared_with_epilogue(isa, rng, tile, activation):
    x = rng.standard_normal((2, 10, 11, 9)).astype(np.float32)
    w = rng.standard_normal((14, 5, 3, 3)).astype(np.float32)  # groups=2
    b = rng.standard_normal(14).astype(np.float32)
    res = rng.standard_normal((2, 14, 11, 9)).astype(np.float32) * 3
    prepared = fastconv.winograd_prepare(w, groups=2, tile=tile)
    assert prepared.tile == tile and prepared.nbytes >= w.nbytes
    y = fastconv.winograd_conv2d_prepared(x, prepared, padding=1, bias=b, residual=res, activation=activation)
    exact = ref.conv2d(x, w, b, padding=(1, 1, 1, 1), groups=2) + res
    if activation == "relu":
        exact = np.maximum(exact, 0)
    elif activation == "relu6":
        exact = np.clip(exact, 0, 6)
    nan_output_check(y)
    # The epilogue adds |bias| + |residual| ~ 10 on top of the convolution's own error.
    assert np.abs(y - exact).max() <= BOUND[f"winograd{tile}x{tile}"] * 4 * 4 * np.sqrt(45) + 1e-5
    with pytest.raises(ValueError, match="channels"):
        fastconv.winograd_conv2d_prepared(np.ones((1, 12, 5, 5), np.float32), prepared)


# ---------------------------------------------------------------- tiled FFT
FFT = ["fft8", "fft16", "fft"]
# The DFT matrices have entries of magnitude <= 1: measured ~8e-8 in the Winograd
# measure; 1e-6 leaves >10x margin.
FFT_BOUND = 1e-6
# (N, C, H, W, K, R, S, padding, groups): windows 8/16 with steps T-R+1, 1x1 outputs,
# kernels 3..8, kernel == window (step 1), primes, groups.
FFT_SHAPES = [
    (1, 3, 5, 7, 5, 3, 3, (1, 1, 1, 1), 1),
    (2, 17, 13, 11, 19, 5, 5, (0, 2, 1, 0), 1),
    (1, 8, 33, 30, 12, 7, 5, (3, 3, 2, 2), 1),
    (2, 6, 9, 9, 4, 3, 3, (1, 1, 1, 1), 2),
    (1, 4, 20, 20, 4, 8, 8, (0, 0, 0, 0), 1),
    (1, 5, 5, 5, 3, 5, 5, (0, 0, 0, 0), 1),
    (3, 13, 17, 19, 14, 5, 5, (2, 2, 2, 2), 1),
]


@pytest.mark.parametrize("algo", FFT)
@pytest.mark.parametrize("shape", FFT_SHAPES)
def test_fft_forward_and_input_gradient(isa, rng, algo, shape):
    N, C, H, W, K, R, S, pad, g = shape
    x = rng.standard_normal((N, C, H, W)).astype(np.float32)
    w = rng.standard_normal((K, C // g, R, S)).astype(np.float32)
    b = rng.standard_normal(K).astype(np.float32)
    y = ops.conv2d(x, w, b, padding=pad, groups=g, algo=algo)
    exact = ref.conv2d(x, w, b, padding=pad, groups=g)
    nan_output_check(y)
    assert normalized_error(y, exact, x, w, C // g * R * S) <= FFT_BOUND
    dy = rng.standard_normal(exact.shape).astype(np.float32)
    dx = ops.conv2d_input(x.shape, w, dy, padding=pad, groups=g, algo=algo)
    nan_output_check(dx)
    exact_dx = ref.conv2d_input(x.shape, w, dy, padding=pad, groups=g)
    assert normalized_error(dx, exact_dx, dy, w, K // g * R * S) <= FFT_BOUND


def test_fft_rejects_stride_dilation_and_large_kernels():
    x = np.ones((1, 3, 40, 40), np.float32)
    with pytest.raises(ValueError, match="stride 1"):
        ops.conv2d(x, np.ones((4, 3, 7, 7), np.float32), stride=2, algo="fft")
    with pytest.raises(ValueError, match="dilation 1"):
        ops.conv2d(x, np.ones((4, 3, 5, 5), np.float32), dilation=2, algo="fft16")
    with pytest.raises(ValueError, match="larger than the 8x8"):
        ops.conv2d(x, np.ones((4, 3, 11, 11), np.float32), algo="fft8")
    # 16x16 DFTs of 512x512 3x3 filters would take 580 MiB: refused with the reason.
    big = ops.conv_algorithms((1, 512, 7, 7), (512, 512, 3, 3), padding=1)["fft16"]
    assert not big["supported"] and "MiB" in big["reason"]
    fastconv.set_fast_algorithms(winograd=True, fft=False)
    try:
        with pytest.raises(ValueError, match="switched off"):
            ops.conv2d(x, np.ones((4, 3, 5, 5), np.float32), algo="fft")
        assert ops.conv_algorithms((16, 64, 32, 32), (64, 64, 5, 5), padding=2)["auto"] in ("im2col", "direct_smallc")
    finally:
        fastconv.set_fast_algorithms(winograd=True, fft=True)
    assert ops.conv_algorithms((16, 64, 32, 32), (64, 64, 5, 5), padding=2)["auto"] == "fft"


def test_fft_zeros_and_large_magnitudes(rng):
    w = rng.standard_normal((6, 5, 5, 5)).astype(np.float32)
    assert np.all(ops.conv2d(np.zeros((1, 5, 12, 12), np.float32), w, padding=2, algo="fft") == 0)
    x = (rng.standard_normal((1, 5, 12, 12)) * 1e4).astype(np.float32)
    y = ops.conv2d(x, w * 1e3, padding=2, algo="fft")
    assert normalized_error(y, ref.conv2d(x, w * 1e3, padding=2), x, w * 1e3, 125) <= FFT_BOUND


# ---------------------------------------------------------------- direct depthwise
# (N, C, mult, H, W, R, S, stride, padding, dilation)
DEPTHWISE_SHAPES = [
    (1, 1, 1, 1, 1, 1, 1, (1, 1), (0, 0, 0, 0), (1, 1)),
    (2, 3, 1, 7, 9, 3, 3, (1, 1), (1, 1, 1, 1), (1, 1)),
    (1, 17, 1, 15, 16, 3, 3, (2, 2), (1, 1, 1, 1), (1, 1)),
    (2, 5, 2, 13, 11, 5, 3, (1, 2), (2, 1, 0, 3), (1, 1)),
    (1, 4, 3, 12, 17, 3, 3, (3, 1), (2, 2, 2, 2), (2, 2)),
    (3, 6, 1, 33, 31, 7, 7, (1, 1), (3, 3, 3, 3), (1, 1)),
    (1, 2, 1, 5, 5, 5, 5, (1, 1), (0, 0, 0, 0), (1, 1)),  # kernel == input
    (1, 19, 1, 4, 20, 1, 1, (2, 3), (0, 1, 0, 1), (1, 1)),
    (1, 3, 1, 9, 90, 3, 3, (1, 1), (1, 1, 1, 1), (1, 1)),  # 64- and 16-pixel chunks + overlap
    (1, 2, 2, 6, 70, 3, 3, (1, 1), (0, 0, 2, 1), (2, 3)),  # chunks with dilation
    (1, 2, 1, 5, 48, 3, 3, (1, 1), (1, 1, 1, 1), (1, 1)),  # 3 whole vectors
    (2, 3, 1, 4, 41, 3, 3, (1, 1), (1, 1, 1, 1), (1, 1)),  # 2 vectors + overlapping one
    (1, 2, 1, 3, 16, 3, 3, (1, 1), (0, 0, 1, 1), (1, 1)),  # exactly one vector
    # 3x3 stride-1 row-blocked kernel (bands of 6 rows x 32-pixel blocks): every row
    # remainder 0..5, widths tile-1 / tile / tile+1, asymmetric padding, channel multiplier 2.
    (1, 5, 1, 6, 33, 3, 3, (1, 1), (1, 1, 1, 1), (1, 1)),
    (2, 3, 1, 7, 31, 3, 3, (1, 1), (0, 2, 2, 0), (1, 1)),
    (1, 2, 2, 10, 17, 3, 3, (1, 1), (1, 1, 1, 1), (1, 1)),
    (1, 3, 1, 8, 32, 3, 3, (1, 1), (1, 1, 1, 1), (1, 1)),
    (1, 2, 1, 13, 16, 3, 3, (1, 1), (1, 1, 0, 2), (1, 1)),
    (1, 2, 1, 11, 112, 3, 3, (1, 1), (1, 1, 1, 1), (1, 1)),  # MobileNet width, remainder 5
    (2, 2, 1, 14, 47, 3, 3, (1, 1), (1, 1, 2, 0), (1, 1)),
    (1, 3, 2, 15, 50, 3, 3, (1, 1), (1, 1, 1, 1), (1, 1)),
    (1, 1, 1, 12, 64, 3, 3, (1, 1), (0, 0, 0, 0), (1, 1)),  # 6 + 4 rows, no padding
    (1, 2, 1, 18, 20, 3, 3, (1, 1), (2, 2, 2, 2), (1, 1)),  # 3 whole bands, wide zero rows
    # narrow planes (OW < 16) as one flat stencil: MobileNet's 7x7 and 14x14, 5x5 kernels,
    # R != S, asymmetric padding, 1-row and 1-column outputs, channel multiplier 2.
    (2, 33, 1, 7, 7, 3, 3, (1, 1), (1, 1, 1, 1), (1, 1)),
    (1, 17, 1, 14, 14, 3, 3, (1, 1), (1, 1, 1, 1), (1, 1)),
    (1, 5, 2, 7, 7, 5, 5, (1, 1), (2, 2, 2, 2), (1, 1)),
    (2, 3, 1, 9, 6, 4, 5, (1, 1), (0, 2, 1, 3), (1, 1)),
    (1, 4, 1, 3, 15, 3, 3, (1, 1), (0, 0, 0, 2), (1, 1)),
    (1, 3, 1, 1, 1, 3, 3, (1, 1), (1, 1, 1, 1), (1, 1)),
    (1, 2, 1, 12, 3, 5, 3, (1, 1), (0, 0, 0, 0), (1, 1)),
    # 3x3 stride 2 (even/odd permutes): 32- and 16-pixel blocks and a masked tail, every
    # band remainder 0..3, odd widths, no padding, TensorFlow's (0, 1, 0, 1), padding 2.
    (1, 3, 1, 18, 112, 3, 3, (2, 2), (1, 1, 1, 1), (1, 1)),
    (2, 2, 1, 11, 33, 3, 3, (2, 2), (1, 1, 1, 1), (1, 1)),
    (1, 2, 2, 14, 70, 3, 3, (2, 2), (0, 0, 0, 0), (1, 1)),
    (1, 3, 1, 13, 64, 3, 3, (2, 2), (0, 1, 0, 1), (1, 1)),
    (1, 2, 1, 5, 9, 3, 3, (2, 2), (2, 2, 2, 2), (1, 1)),
    (1, 2, 1, 2, 2, 3, 3, (2, 2), (1, 1, 1, 1), (1, 1)),
    # padding beyond the kernel's reach: the stride-1 input gradient cannot run as a forward
    # convolution of dy (it would need negative padding) and takes the tap-by-tap loops
    (1, 3, 1, 6, 20, 3, 3, (1, 1), (3, 0, 1, 1), (1, 1)),
]


@pytest.mark.parametrize("shape", DEPTHWISE_SHAPES)
def test_direct_depthwise_forward_and_gradients(isa, rng, shape):
    N, C, mult, H, W, R, S, stride, pad, dil = shape
    K = C * mult
    x = rng.standard_normal((N, C, H, W)).astype(np.float32)
    w = rng.standard_normal((K, 1, R, S)).astype(np.float32)
    b = rng.standard_normal(K).astype(np.float32)
    kw = dict(stride=stride, padding=pad, dilation=dil, groups=C)
    y = ops.conv2d(x, w, b, algo="direct", **kw)
    exact = ref.conv2d(x, w, b, **kw)
    nan_output_check(y)
    assert normalized_error(y, exact, x, w, R * S) <= DIRECT_BOUND
    dy = rng.standard_normal(exact.shape).astype(np.float32)
    dx = ops.conv2d_input(x.shape, w, dy, algo="direct", **kw)
    nan_output_check(dx)
    assert normalized_error(dx, ref.conv2d_input(x.shape, w, dy, **kw), dy, w, R * S * mult) <= DIRECT_BOUND
    dw, db = fastconv.depthwise_conv2d_weight(x, w.shape, dy, with_bias=True, **kw)
    exact_dw = ref.conv2d_weight(x, w.shape, dy, **kw)
    n_sum = N * exact.shape[2] * exact.shape[3]
    assert normalized_error(dw, exact_dw, x, dy, max(n_sum, 1)) <= DIRECT_BOUND
    np.testing.assert_allclose(db, dy.astype(np.float64).sum(axis=(0, 2, 3)), rtol=1e-5, atol=1e-4)


def _random_depthwise_shapes(count, seed=2026):
    """Seeded random geometries aimed at the specialised depthwise kernels (3x3 stride 1 row
    blocks and stride 2 permutes, the flat narrow-plane stencil for 3x3/5x5) and their
    border handling: sizes 1..40, each padding 0..3 on its own, multiplier 1 or 2."""
    r = np.random.default_rng(seed)
    shapes = []
    for _ in range(count):
        R, S = [(3, 3), (3, 3), (5, 5), (3, 5), (5, 3)][r.integers(5)]
        stride = (1, 1) if r.random() < 0.6 else (2, 2)
        H, W = int(r.integers(1, 41)), int(r.integers(1, 41))
        pad = tuple(int(v) for v in r.integers(0, 4, size=4))
        if H + pad[0] + pad[1] < R or W + pad[2] + pad[3] < S:  # no output
            pad = (R // 2, R // 2, S // 2, S // 2)
            H, W = max(H, R), max(W, S)
        shapes.append((int(r.integers(1, 3)), int(r.integers(1, 5)), int(r.integers(1, 3)), H, W, R, S,
                       stride, pad, (1, 1)))
    return shapes


@pytest.mark.parametrize("shape", _random_depthwise_shapes(40), ids=str)
def test_direct_depthwise_random_geometries(isa, rng, shape):
    test_direct_depthwise_forward_and_gradients(isa, rng, shape)


def test_depthwise_weight_gradient_by_finite_differences(rng):
    N, C, H, W = 2, 3, 6, 7
    kw = dict(stride=(2, 1), padding=(1, 0, 2, 1), dilation=(1, 2), groups=C)
    x = rng.standard_normal((N, C, H, W)).astype(np.float32)
    w = rng.standard_normal((C * 2, 1, 3, 3))
    dy = rng.standard_normal(ref.conv2d(x, w, **kw).shape).astype(np.float32)
    dw = fastconv.depthwise_conv2d_weight(x, w.shape, dy, **kw)
    assert np.abs(dw).max() > 0.1
    eps = 1e-6
    fd = np.zeros_like(w)
    for idx in np.ndindex(w.shape):
        wp, wm = w.copy(), w.copy()
        wp[idx] += eps
        wm[idx] -= eps
        fd[idx] = ((ref.conv2d(x, wp, **kw) - ref.conv2d(x, wm, **kw)) * dy).sum() / (2 * eps)
    assert np.abs(dw - fd).max() <= 1e-5 * np.abs(fd).max() + 1e-5


def test_direct_rejects_non_depthwise():
    x = np.ones((1, 4, 5, 5), np.float32)
    with pytest.raises(ValueError, match="depthwise"):
        ops.conv2d(x, np.ones((4, 2, 3, 3), np.float32), groups=2, algo="direct")
    with pytest.raises(ValueError, match="depthwise"):
        fastconv.depthwise_conv2d_weight(x, (4, 2, 3, 3), np.ones((1, 4, 3, 3), np.float32), groups=2)
    with pytest.raises(ValueError, match="grad_output"):
        fastconv.depthwise_conv2d_weight(x, (4, 1, 3, 3), np.ones((1, 4, 2, 3), np.float32))


def test_auto_choices():
    assert ops.conv_algorithms((1, 32, 112, 112), (32, 1, 3, 3), padding=1, groups=32)["auto"] == "direct"
    assert ops.conv_algorithms((1, 64, 56, 56), (64, 64, 3, 3), padding=1)["auto"].startswith("winograd")
    # The ResNet stem runs the small-channel direct kernel (tests/test_conv_direct_smallc.py).
    assert ops.conv_algorithms((1, 3, 224, 224), (64, 3, 7, 7), stride=2, padding=3)["auto"].startswith("direct_smallc")
    support = ops.conv_algorithms((1, 8, 9, 9), (8, 8, 3, 3), padding=1)
    for algo in WINOGRAD + ["winograd"]:
        assert support[algo]["supported"] and support[algo]["workspace_bytes"] > 0


def test_autotune_is_correct_cached_and_thread_safe(rng):
    x = rng.standard_normal((2, 8, 12, 12)).astype(np.float32)
    w = rng.standard_normal((8, 8, 3, 3)).astype(np.float32)
    exact = ref.conv2d(x, w, padding=(1, 1, 1, 1))
    fastconv.clear_autotune_cache()
    fastconv.set_autotune(True)
    try:
        assert fastconv.get_autotune()
        results, errors = [], []

        def worker():
            try:
                results.append(ops.conv2d(x, w, padding=1))
            except Exception as e:  # pragma: no cover - reported below
                errors.append(e)

        threads = [threading.Thread(target=worker) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors
        for y in results:
            assert normalized_error(y, exact, x, w, 72) <= BOUND["winograd6x6"]
        algos = ops.conv_algorithms(x.shape, w.shape, padding=1)
        # The timed winner: any algorithm that supports the shape (the tiled FFT's 8x8 and
        # 16x16 windows included; which one wins depends on the ISA), never an alias.
        candidates = {name for name, a in algos.items() if name not in ("auto", "winograd", "fft") and a["supported"]}
        assert {"im2col", "winograd4x4", "fft8"} <= candidates
        assert algos["auto"] in candidates
    finally:
        fastconv.set_autotune(False)
        fastconv.clear_autotune_cache()


def test_fastconv_api_rejects_bad_input():
    w = np.ones((4, 3, 3, 3), np.float32)
    with pytest.raises(ValueError, match="2, 4 or 6"):
        fastconv.winograd_prepare(w, tile=3)
    with pytest.raises(ValueError, match="3x3"):
        fastconv.winograd_prepare(np.ones((4, 3, 5, 5), np.float32))
    with pytest.raises(ValueError, match="4-D"):
        fastconv.winograd_prepare(np.ones((4, 3, 3), np.float32))
    with pytest.raises(ValueError, match="groups"):
        fastconv.winograd_prepare(np.ones((6, 3, 3, 3), np.float32), groups=4)
    prepared = fastconv.winograd_prepare(w)
    x = np.ones((2, 3, 6, 6), np.float32)
    with pytest.raises(ValueError, match="activation"):
        fastconv.winograd_conv2d_prepared(x, prepared, activation="gelu")
    with pytest.raises(ValueError, match="bias"):
        fastconv.winograd_conv2d_prepared(x, prepared, bias=np.ones(5, np.float32))
    with pytest.raises(ValueError, match="residual"):
        fastconv.winograd_conv2d_prepared(x, prepared, residual=np.ones((2, 4, 5, 6), np.float32))
    with pytest.raises(ValueError, match="padding"):
        fastconv.winograd_conv2d_prepared(x, prepared, padding=-1)
    assert fastconv.winograd_conv2d_prepared(np.ones((0, 3, 6, 6), np.float32), prepared).shape == (0, 4, 6, 6)
    with pytest.raises(OverflowError):
        ops.conv2d(np.ones((1, 3, 3, 3), np.float32), w, padding=2**62, algo="winograd4x4")
