"""Winograd's work schedules (cpp/src/conv/winograd.cc) against the float64 reference.

One call runs one of these, chosen by tile count, filter size and threads:
  - per-thread blocks (many 32-tile blocks, small transformed filters);
  - the row-block path in one chunk, filters transformed inside the row-block items
    (per call) or read prepared (winograd_prepare);
  - the row-block path in several chunks (V of one tile block > 1.5 MiB), filters
    transformed once up front;
and any block of <= 16 tiles runs the 16-lane GEMM. The shapes below put the tile count
around 16 and 32 (a half block, a full one, one more), channels around the 16-channel
filter panels, and output channels around the 12-row blocks. Error measure and bounds as
in test_conv_fast.py (max error over max|x|*max|w|*sqrt(C*9)).
"""
import numpy as np
import pytest

import ref_conv_fast as ref
from cnnnative import _core, ops
from cnnnative.ops import fastconv

BOUND = fastconv.WINOGRAD_ERROR_BOUND


# Every scratch buffer starts as NaN (conftest.nan_scratch).
pytestmark = pytest.mark.usefixtures("nan_scratch")


@pytest.fixture(params=[1, 2], ids=["1thread", "2threads"])
def threads(request):
    before = _core.get_num_threads()
    _core.set_num_threads(request.param)
    yield request.param
    _core.set_num_threads(before)


def normalized_error(y, exact, x, w, reduction):
    scale = max(np.abs(x).max(), 1e-30) * max(np.abs(w).max(), 1e-30) * np.sqrt(reduction)
    return np.abs(np.asarray(y, np.float64) - exact).max() / scale


# (N, C, H, W, K): with padding 1 the output is H x W; tiles = N * ceil(H/m) * ceil(W/m).
SHAPES = [
    (1, 17, 7, 7, 13),    # F(2x2): 16 tiles (one half block); F(4x4): 4
    (1, 16, 14, 14, 12),  # F(4x4): 16 tiles; F(2x2): 49 (a full block + 17)
    (1, 33, 9, 7, 25),    # F(2x2): 20 tiles (a full block, 12 lanes empty)
    (2, 5, 7, 8, 11),     # F(2x2): 32 tiles over two images; F(4x4): 8
    (3, 19, 6, 6, 14),    # F(2x2): 27; F(4x4): 12 over three images
    (1, 31, 13, 10, 29),  # F(2x2): 35 (a full block + 3); F(4x4): 12
    (2, 12, 17, 15, 7),   # F(2x2): 144 (4 full blocks + 16); F(4x4): 40
    (5, 9, 11, 11, 24),   # many blocks: per-thread path at F(2x2) and F(4x4)
]


@pytest.mark.parametrize("tile", [2, 4])
@pytest.mark.parametrize("shape", SHAPES)
def test_per_call_and_prepared_match_reference(isa, rng, threads, tile, shape):
    N, C, H, W, K = shape
    x = rng.standard_normal((N, C, H, W)).astype(np.float32)
    w = rng.standard_normal((K, C, 3, 3)).astype(np.float32)
    b = rng.standard_normal(K).astype(np.float32)
    exact = ref.conv2d(x, w, b, padding=(1, 1, 1, 1))
    algo = f"winograd{tile}x{tile}"
    y = ops.conv2d(x, w, b, padding=1, algo=algo)
    assert np.isfinite(y).all()
    assert normalized_error(y, exact, x, w, C * 9) <= BOUND[algo]
    prepared = fastconv.winograd_prepare(w, groups=1, tile=tile)
    yp = fastconv.winograd_conv2d_prepared(x, prepared, padding=1, bias=b)
    assert np.isfinite(yp).all()
    assert normalized_error(yp, exact, x, w, C * 9) <= BOUND[algo]
    # The same sums in the same order whether filters are fused or prepared.
    np.testing.assert_array_equal(y, yp)


@pytest.mark.parametrize("tile", [2, 4])
@pytest.mark.parametrize("shape", [(1, 17, 7, 7, 13), (2, 12, 17, 15, 7), (5, 9, 11, 11, 24)])
def test_input_gradient_schedules(isa, rng, threads, tile, shape):
    N, C, H, W, K = shape
    w = rng.standard_normal((K, C, 3, 3)).astype(np.float32)
    dy = rng.standard_normal((N, K, H, W)).astype(np.float32)
    algo = f"winograd{tile}x{tile}"
    dx = ops.conv2d_input((N, C, H, W), w, dy, padding=1, algo=algo)
    exact = ref.conv2d_input((N, C, H, W), w, dy, padding=(1, 1, 1, 1))
    assert np.isfinite(dx).all()
    assert normalized_error(dx, exact, dy, w, K * 9) <= BOUND[algo]


def test_several_chunks(isa, rng, threads):
    """V of one F(4x4) tile block of 300 channels is 1.4 MiB, so the 36 tiles' two blocks
    run as two chunks (filters transformed up front, not fused)."""
    N, C, H, W, K = 1, 300, 24, 24, 20
    x = rng.standard_normal((N, C, H, W)).astype(np.float32)
    w = rng.standard_normal((K, C, 3, 3)).astype(np.float32)
    exact = ref.conv2d(x, w, padding=(1, 1, 1, 1))
    y = ops.conv2d(x, w, padding=1, algo="winograd4x4")
    assert normalized_error(y, exact, x, w, C * 9) <= BOUND["winograd4x4"]
    yp = fastconv.winograd_conv2d_prepared(x, fastconv.winograd_prepare(w, tile=4), padding=1)
    np.testing.assert_array_equal(y, yp)


def test_groups_with_half_blocks(isa, rng, threads):
    """Each group runs its own schedule; 16 tiles per group's image at F(2x2)."""
    N, C, H, W, K, g = 1, 34, 8, 8, 26, 2
    x = rng.standard_normal((N, C, H, W)).astype(np.float32)
    w = rng.standard_normal((K, C // g, 3, 3)).astype(np.float32)
    exact = ref.conv2d(x, w, padding=(1, 1, 1, 1), groups=g)
    for tile in (2, 4):
        y = ops.conv2d(x, w, padding=1, groups=g, algo=f"winograd{tile}x{tile}")
        assert normalized_error(y, exact, x, w, C // g * 9) <= BOUND[f"winograd{tile}x{tile}"]

