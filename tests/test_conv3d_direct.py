"""The direct conv3d kernels (cpp/src/conv/conv3d_direct.h: forward, the stride-1 input
gradient as a flipped forward, and the weight gradient) against the float64 references of
test_conv3d.py and against vol2col + GEMM, on every ISA (AVX-512 and AVX2 have direct
kernels; on scalar algo='direct' runs vol2col + GEMM). The shapes cover the tile edges of
both: output rows that are not a multiple of the 14-position (AVX-512) or 6-position
(AVX2) tile, channel counts that end in a one- or two-vector block (32 channels per
block on AVX-512, 16 on AVX2), input channels that are not a multiple of the AVX2 kernel's
8-channel chunk, weight-gradient tiles with 1-4 height and 1-5 width taps, groups,
strides, dilations, padding larger than the kernel's reach (rows with no valid tap),
asymmetric width padding, batch 1 and > 1, and non-finite values where a skipped padding
tap must still give NaN; finite differences of the autograd path and torch's
conv3d, where installed, on every ISA."""
import numpy as np
import pytest

import cnnnative as cn
from cnnnative import nn, ops
from test_conv3d import _case_arrays, _sym, finite_differences_match, layer_matches_torch, ref_conv3d, ref_grads

# ISAs whose conv3d has a direct kernel (cpp/src/conv/conv3d_direct.cc: direct_kernels()).
DIRECT_ISAS = ("avx2", "avx512")


@pytest.fixture(autouse=True)
def nan_outputs(monkeypatch):
    monkeypatch.setenv("CNNNATIVE_DEBUG_NAN", "1")


# (N, C, (D, H, W), K, kernel, stride, padding (6: front, back, top, bottom, left, right), dilation, groups)
CASES = [
    (1, 8, (4, 5, 17), 32, (3, 3, 3), (1, 1, 1), (1, 1, 1, 1, 1, 1), (1, 1, 1), 1),    # 17 = 9 + 8
    (2, 5, (3, 6, 29), 48, (3, 3, 3), (1, 1, 1), (1, 1, 1, 1, 1, 1), (1, 1, 1), 1),    # 32 + 16 channels
    (1, 6, (5, 4, 15), 66, (2, 3, 3), (2, 1, 2), (0, 0, 1, 1, 2, 2), (1, 2, 1), 2),    # 33 per group: 32 + 16
    (2, 4, (4, 5, 9), 40, (3, 2, 3), (1, 2, 1), (3, 3, 2, 2, 0, 0), (1, 1, 2), 1),     # rows with no valid tap
    (1, 3, (3, 4, 30), 32, (1, 1, 1), (1, 1, 3), (0, 0, 0, 0, 0, 0), (1, 1, 1), 1),    # pointwise, strided
    (2, 5, (2, 3, 9), 32, (1, 1, 1), (1, 1, 1), (0, 0, 0, 0, 0, 0), (1, 1, 1), 1),     # pointwise (AVX2: GEMM)
    (1, 4, (3, 5, 12), 64, (2, 2, 4), (1, 1, 1), (0, 1, 1, 0, 1, 2), (1, 1, 1), 1),    # even kernel, 'same'-like pads
    (1, 2, (2, 3, 1), 32, (3, 3, 3), (1, 1, 1), (1, 1, 1, 1, 1, 1), (1, 1, 1), 1),     # W = 1
    # AVX2 tile edges: 40 = 16 + 16 + 8 channels, 9 input channels = 8 + 1, 4 height
    # taps (2 + 2) and 5 width taps (3 + 2) in the weight gradient, width stride 2
    (2, 9, (5, 6, 27), 40, (3, 4, 5), (1, 1, 2), (1, 1, 2, 2, 2, 2), (1, 1, 1), 1),
    # 41 per group = 16 + 16 + 9 (two vectors in the last block), one height tap, 4
    # dilated width taps, 13 positions (tiles of 4, 4, 5)
    (1, 6, (4, 5, 19), 82, (3, 1, 4), (1, 1, 1), (1, 1, 0, 0, 3, 3), (1, 1, 2), 2),
    # 7 positions (tiles of 3 and 4), 3 height taps (2 + 1), depth dilation
    (3, 4, (5, 5, 7), 48, (2, 3, 3), (1, 1, 1), (1, 1, 1, 1, 1, 1), (2, 1, 1), 1),
    # 9 x 8 = 72 depth x height taps: the AVX2 forward's tap table in two pieces (64 + 8)
    (1, 2, (9, 9, 7), 32, (9, 8, 1), (1, 1, 1), (4, 4, 3, 3, 0, 0), (1, 1, 1), 1),
]


def _padding(pad6):
    """ops.conv3d takes symmetric padding; asymmetric cases pad the input explicitly."""
    return tuple(pad6[0::2]) if pad6[0::2] == pad6[1::2] else None


def _run(x, w, b, dy, stride, pad6, dilation, groups, algo):
    sym = _padding(pad6)
    if sym is None:  # pad by hand (zeros): the conv itself then has no padding
        x = np.pad(x, ((0, 0), (0, 0), (pad6[0], pad6[1]), (pad6[2], pad6[3]), (pad6[4], pad6[5])))
        sym = (0, 0, 0)
    geometry = (stride, sym, dilation, groups)
    y = ops.conv3d(x, w, b, *geometry, algo=algo)
    dx = ops.conv3d_input(x.shape, w, dy, *geometry, algo=algo)
    dw, db = ops.conv3d_weight(x, w.shape, dy, *geometry, with_bias=True, algo=algo)
    if _padding(pad6) is None:
        dx = dx[:, :, pad6[0]:dx.shape[2] - pad6[1], pad6[2]:dx.shape[3] - pad6[3], pad6[4]:dx.shape[4] - pad6[5]]
    return y, dx, dw, db


@pytest.mark.parametrize("case", CASES)
def test_direct_matches_the_float64_reference_and_gemm(case, rng, isa):
    x, w, b = _case_arrays(case, rng)
    *_, stride, pad6, dilation, groups = case
    expected = ref_conv3d(x, w, b, stride, pad6, dilation, groups)
    dy = rng.standard_normal(expected.shape).astype(np.float32)
    ref_dx, ref_dw = ref_grads(x, w, dy, stride, pad6, dilation, groups)
    results = {algo: _run(x, w, b, dy, stride, pad6, dilation, groups, algo) for algo in ("direct", "auto", "gemm")}
    for algo, (y, dx, dw, db) in results.items():
        np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-4, err_msg=algo)
        np.testing.assert_allclose(dx, ref_dx, rtol=1e-4, atol=1e-4, err_msg=algo)
        np.testing.assert_allclose(dw, ref_dw, rtol=1e-4, atol=2e-4, err_msg=algo)
        np.testing.assert_allclose(db, dy.astype(np.float64).sum(axis=(0, 2, 3, 4)), rtol=1e-5, atol=1e-4)
    for got, want in zip(results["auto"], results["direct"]):  # auto takes the direct path here
        np.testing.assert_array_equal(got, want)


def test_c3d_like_layer_spans_threads_and_row_tiles(rng):
    # 64 -> 64 channels, 3x3x3, padding 1, rows of 56 positions (four 14-position tiles).
    x = rng.standard_normal((1, 64, 3, 4, 56)).astype(np.float32)
    w = (rng.standard_normal((64, 64, 3, 3, 3)) * 0.1).astype(np.float32)
    b = rng.standard_normal(64).astype(np.float32)
    expected = ref_conv3d(x, w, b, (1, 1, 1), _sym((1, 1, 1)), (1, 1, 1), 1)
    dy = rng.standard_normal(expected.shape).astype(np.float32)
    ref_dx, ref_dw = ref_grads(x, w, dy, (1, 1, 1), _sym((1, 1, 1)), (1, 1, 1), 1)
    y, dx, dw, _ = _run(x, w, b, dy, (1, 1, 1), _sym((1, 1, 1)), (1, 1, 1), 1, "direct")
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(dx, ref_dx, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(dw, ref_dw, rtol=1e-4, atol=2e-3)


def test_weight_gradient_is_the_same_on_every_call(rng):
    x = rng.standard_normal((2, 8, 5, 6, 21)).astype(np.float32)
    dy = rng.standard_normal((2, 32, 5, 6, 21)).astype(np.float32)
    first = ops.conv3d_weight(x, (32, 8, 3, 3, 3), dy, 1, 1)
    for _ in range(3):
        np.testing.assert_array_equal(ops.conv3d_weight(x, (32, 8, 3, 3, 3), dy, 1, 1), first)


def test_nan_input_reaches_exactly_its_receptive_field(rng, isa):
    x = rng.standard_normal((1, 4, 4, 5, 16)).astype(np.float32)
    w = rng.standard_normal((32, 4, 3, 3, 3)).astype(np.float32)
    x[0, 1, 2, 2, 7] = np.nan
    y = ops.conv3d(x, w, None, 1, 1, algo="direct")
    mask = np.zeros(y.shape[2:], bool)
    mask[1:4, 1:4, 6:9] = True
    assert np.isnan(y[0]).all(axis=0)[mask].all()
    assert np.isfinite(y[0][:, ~mask]).all()


def test_nan_weight_at_a_padding_tap_still_gives_nan(rng, isa):
    # 0 * NaN = NaN: the tap that reads the front padding must not be skipped then (torch
    # and vol2col + GEMM give NaN at every output).
    x = rng.standard_normal((1, 3, 3, 4, 15)).astype(np.float32)
    w = rng.standard_normal((32, 3, 3, 3, 3)).astype(np.float32)
    w[5, 1, 0, 1, 1] = np.nan
    y = ops.conv3d(x, w, None, 1, 1, algo="direct")
    assert np.isnan(y[0, 5]).all() and np.isfinite(np.delete(y[0], 5, axis=0)).all()
    dx = ops.conv3d_input(x.shape, w, rng.standard_normal(y.shape).astype(np.float32), 1, 1, algo="direct")
    ref = ops.conv3d_input(x.shape, w, rng.standard_normal(y.shape).astype(np.float32), 1, 1, algo="gemm")
    np.testing.assert_array_equal(np.isnan(dx), np.isnan(ref))


def test_nan_grad_output_at_the_border_reaches_the_padding_taps(rng, isa):
    x = rng.standard_normal((1, 3, 3, 4, 15)).astype(np.float32)
    dy = rng.standard_normal((1, 32, 3, 4, 15)).astype(np.float32)
    dy[0, 7, 0, 0, 3] = np.inf  # first plane and row: its depth/height taps reach the padding
    dw = ops.conv3d_weight(x, (32, 3, 3, 3, 3), dy, 1, 1, algo="direct")
    ref = ops.conv3d_weight(x, (32, 3, 3, 3, 3), dy, 1, 1, algo="gemm")
    np.testing.assert_array_equal(np.isnan(dw), np.isnan(ref))
    np.testing.assert_array_equal(np.isinf(dw), np.isinf(ref))
    assert np.isnan(dw[7]).any() and np.isfinite(np.delete(dw, 7, axis=0)).all()


def test_unknown_algo_names_the_choices():
    with pytest.raises(ValueError, match="'direct'"):
        ops.conv3d(np.zeros((1, 1, 2, 2, 2), np.float32), np.zeros((1, 1, 1, 1, 1), np.float32), algo="fft")


def test_direct_kernel_runs_where_the_isa_has_one(rng, isa):
    # On AVX2 and AVX-512 algo='direct' is a different summation than vol2col + GEMM (so
    # its last bits differ: the direct kernel ran); on scalar it is vol2col + GEMM itself.
    x = rng.standard_normal((1, 16, 3, 4, 20)).astype(np.float32)
    w = rng.standard_normal((32, 16, 3, 3, 3)).astype(np.float32)
    expected = ref_conv3d(x, w, None, (1, 1, 1), _sym((1, 1, 1)), (1, 1, 1), 1)
    direct = ops.conv3d(x, w, None, 1, 1, algo="direct")
    gemm = ops.conv3d(x, w, None, 1, 1, algo="gemm")
    np.testing.assert_allclose(direct, expected, rtol=1e-4, atol=1e-3)
    assert np.array_equal(direct, gemm) == (isa not in DIRECT_ISAS)


def test_infinities_propagate_as_in_vol2col_gemm(rng, isa):
    # +-inf inputs: inf * w is +-inf, inf - inf is NaN; the direct kernels must give the
    # same NaN / inf pattern (and signs) as vol2col + GEMM in all three passes.
    x = rng.standard_normal((2, 3, 3, 4, 15)).astype(np.float32)
    x[0, 0, 0, 0, 0] = np.inf      # a corner: its neighbours' taps reach the padding
    x[0, 2, 1, 2, 7] = -np.inf
    x[1, 1, 1, 1, 3] = np.inf
    x[1, 2, 1, 1, 4] = -np.inf     # overlaps the +inf above: NaN where both reach
    w = rng.standard_normal((32, 3, 3, 3, 3)).astype(np.float32)
    dy = rng.standard_normal((2, 32, 3, 4, 15)).astype(np.float32)
    dy[1, 4, 1, 2, 6] = np.inf     # interior: every tap valid, the direct weight gradient keeps it
    dy[0, 9, 1, 1, 14] = -np.inf   # right edge: the width padding is explicit, so also kept
    results = {}
    for algo in ("direct", "gemm"):
        results[algo] = (ops.conv3d(x, w, None, 1, 1, algo=algo),
                         ops.conv3d_input(x.shape, w, dy, 1, 1, algo=algo),
                         ops.conv3d_weight(x, w.shape, dy, 1, 1, algo=algo))
    for got, want, what in zip(results["direct"], results["gemm"], ("y", "dx", "dw")):
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=what)
        np.testing.assert_array_equal(np.isposinf(got), np.isposinf(want), err_msg=what)
        np.testing.assert_array_equal(np.isneginf(got), np.isneginf(want), err_msg=what)
        finite = np.isfinite(want)
        assert finite.any() and not finite.all(), what
        np.testing.assert_allclose(got[finite], want[finite], rtol=1e-4, atol=1e-3, err_msg=what)


def test_autograd_through_the_direct_kernel_matches_finite_differences(rng, isa):
    # 32 output channels: Conv3d's autograd takes the direct kernels for all three passes.
    x = rng.standard_normal((2, 3, 3, 4, 9))
    w = rng.standard_normal((32, 3, 3, 3, 3)) * 0.3
    b = rng.standard_normal(32)
    r = rng.standard_normal((2, 32, 3, 4, 9))
    pad6 = _sym((1, 1, 1))

    def loss(x_, w_, b_):
        return float((ref_conv3d(x_, w_, b_, (1, 1, 1), pad6, (1, 1, 1), 1) * r).sum())

    xt, wt, bt = (cn.Tensor(a.astype(np.float32), requires_grad=True) for a in (x, w, b))
    (ops.conv3d(xt, wt, bt, 1, 1) * cn.Tensor(r.astype(np.float32))).sum().backward()
    finite_differences_match(loss, (x, w, b), (xt, wt, bt),
                             ([(0, 0, 0, 0, 0), (1, 2, 1, 2, 4), (1, 1, 2, 3, 8)],
                              [(0, 0, 0, 0, 0), (17, 1, 1, 1, 1), (31, 2, 2, 2, 2)], [(5,)]), each_nonzero=True)


TORCH_CASES = [  # layers the direct kernels take (>= 32 output channels per group)
    dict(cin=5, cout=40, k=3, stride=1, padding=1, dilation=1, groups=1, size=(3, 4, 13), n=2),
    dict(cin=6, cout=66, k=(2, 3, 3), stride=(1, 1, 2), padding=(1, 1, 2), dilation=(2, 1, 1), groups=2,
         size=(4, 5, 15), n=1),
    dict(cin=3, cout=32, k=(3, 2, 5), stride=1, padding="same", dilation=(1, 2, 1), groups=1, size=(3, 5, 9), n=1),
]


@pytest.mark.parametrize("cfg", TORCH_CASES)
def test_direct_layer_matches_torch(cfg, rng, isa):
    layer_matches_torch(cfg, rng)
