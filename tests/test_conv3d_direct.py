"""The direct conv3d kernels (cpp/src/conv/conv3d_direct.h: forward, the stride-1 input
gradient as a flipped forward, and the weight gradient) against the float64 references of
test_conv3d.py and against vol2col + GEMM, on every ISA (where the active ISA has no direct
kernel, algo='direct' runs vol2col + GEMM). The shapes cover the tile edges: output rows
that are not a multiple of the 14-position tile, channel counts that end in a one- or
two-vector block, groups, strides, dilations, padding larger than the kernel's reach
(rows with no valid tap), asymmetric width padding, batch 1 and > 1, and non-finite
values where a skipped padding tap must still give NaN."""
import numpy as np
import pytest

from cnnnative import ops
from test_conv3d import _case_arrays, _sym, ref_conv3d, ref_grads


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
    (1, 4, (3, 5, 12), 64, (2, 2, 4), (1, 1, 1), (0, 1, 1, 0, 1, 2), (1, 1, 1), 1),    # even kernel, 'same'-like pads
    (1, 2, (2, 3, 1), 32, (3, 3, 3), (1, 1, 1), (1, 1, 1, 1, 1, 1), (1, 1, 1), 1),     # W = 1
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
