"""Inference max pooling without indices (pool/max_pool_separable_body.inl): ops.max_pool2d
and the compiled engine node against the float64 reference under every ISA, for the
windows of classic CNNs (3/2, 2/2, 3/1, padding 0/1, ceil mode on/off), odd and even
sizes whose output rows cover the vector bodies, their overlapping last chunk and the
border columns; ties, -0.0 / +0.0, NaN and +-inf inputs; NaN-prefilled outputs."""
import numpy as np
import pytest

import cnnnative as cn
import ref_ops as ref
from cnnnative import nn, ops
from ref_ops import nan_fill  # noqa: F401  (autouse: NaN-filled outputs)

# (kernel, stride, padding, ceil_mode)
WINDOWS = [(3, 2, 0, False), (3, 2, 0, True), (3, 2, 1, False), (3, 2, 1, True),
           (2, 2, 0, False), (2, 2, 0, True), (3, 1, 1, False), (3, 1, 0, False),
           ((3, 2), (2, 1), (1, 0), True), (5, 3, 2, True)]
# Widths: below one vector, around 8 and 16 outputs (AVX2 / AVX-512 chunks), odd and even.
SIZES = [(1, 1), (2, 5), (5, 17), (6, 18), (7, 33), (4, 36), (3, 41), (9, 67), (12, 112)]


def _tricky(rng, shape):
    """Few levels (ties), signed zeros, NaN and +-inf."""
    x = rng.integers(-2, 3, shape).astype(np.float32)
    x[x == 0] = rng.choice(np.array([0.0, -0.0], np.float32), int((x == 0).sum()))
    x[rng.random(shape) < 0.03] = np.nan
    x[rng.random(shape) < 0.04] = -np.inf
    x[rng.random(shape) < 0.01] = np.inf
    return x


def _pair(v):
    return v if isinstance(v, tuple) else (v, v)


def _check(got, x, k, s, p, ceil):
    want = ref.max_pool2d(x, _pair(k), _pair(s), _pair(p), (1, 1), ceil)[0].astype(np.float32)
    np.testing.assert_array_equal(got, want)  # selects inputs: exact, NaN where the reference has NaN
    # Ties go to the first maximum in row-major order: -0.0 / +0.0 keep the earlier one.
    np.testing.assert_array_equal(np.signbit(got[got == 0]), np.signbit(want[want == 0]))


@pytest.mark.parametrize("window", WINDOWS, ids=str)
def test_max_pool2d_without_indices_matches_reference(isa, rng, window):
    k, s, p, ceil = window
    for H, W in SIZES:
        for N, C in ((1, 3), (2, 2)):
            x = _tricky(rng, (N, C, H, W))
            (kh, kw), (sh, sw), (ph, pw) = (_pair(v) for v in (k, s, p))
            OH, OW = ref.pool_out_size(H, kh, sh, ph, 1, ceil), ref.pool_out_size(W, kw, sw, pw, 1, ceil)
            if OH < 1 or OW < 1:  # the op refuses an empty output
                with pytest.raises(ValueError, match="too small"):
                    ops.max_pool2d(x, k, s, p, ceil_mode=ceil)
                continue
            got = ops.max_pool2d(x, k, s, p, ceil_mode=ceil)
            assert got.shape == (N, C, OH, OW)
            _check(got, x, k, s, p, ceil)
            # The indices path (training) gives the same values.
            np.testing.assert_array_equal(ops.max_pool2d(x, k, s, p, ceil_mode=ceil, return_indices=True)[0], got)


@pytest.mark.parametrize("window", [w for w in WINDOWS if not isinstance(w[0], tuple)], ids=str)
def test_compiled_max_pool_node_matches_reference(isa, rng, window):
    k, s, p, ceil = window
    for N, C, H, W in ((1, 3, 9, 67), (3, 2, 12, 36), (2, 5, 7, 18)):
        x = _tricky(rng, (N, C, H, W))
        run = cn.compile(nn.MaxPool2d(k, s, p, ceil_mode=ceil), (N, C, H, W), poison=True)
        _check(run(x), x, k, s, p, ceil)
        _check(run(x[:1]), x[:1], k, s, p, ceil)  # a smaller batch than compiled for


def test_nan_anywhere_in_a_window_gives_nan(isa):
    # One NaN at every position of a 3x3 stride-2 window in turn (vector body and border
    # windows), among +inf and finite values.
    for col in (16, 0, 34):
        for pos in range(9):
            x = np.full((1, 2, 3, 35), 1.0, np.float32)
            x[0, :, 1, 1] = np.inf
            x[0, :, pos // 3, col + pos % 3 - (2 if col == 34 else 0)] = np.nan
            got = ops.max_pool2d(x, 3, 2)
            assert np.isnan(got[0, :, 0, min(col, 32) // 2]).all()
            _check(got, x, 3, 2, 0, False)


def test_same_result_for_any_thread_count(rng):
    x = _tricky(rng, (2, 5, 31, 57))
    before = cn.get_num_threads() if hasattr(cn, "get_num_threads") else None
    try:
        outs = []
        for t in (1, 2, 3):
            cn.set_num_threads(t)
            outs.append(ops.max_pool2d(x, 3, 2, 1, ceil_mode=True))
    finally:
        if before is not None:
            cn.set_num_threads(before)
    for o in outs[1:]:
        np.testing.assert_array_equal(o, outs[0])
