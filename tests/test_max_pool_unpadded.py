"""Max pooling of unpadded stride-2 windows whose every window lies inside the input
(pool/max_pool_separable.h: planes_unpadded, AVX-512; Inception's 3x3 / 2 pools), eager and
compiled, under every ISA, bit for bit against a row-major reference: the first maximum of
each window wins (so of +0.0 and -0.0 the earlier one, sign included), NaN propagates.
Rows shorter than one vector chunk (W 5, 17, 35), kernel widths 2 and 3, heights 1-4,
vertical strides 1-3, batch 1 and 3.
"""
import numpy as np
import pytest

import cnnnative as cn
from cnnnative import nn, ops


def _reference(x, kh, kw, sh):
    """Row-major max over each window: a tap replaces the running maximum when greater or NaN."""
    N, C, H, W = x.shape
    OH, OW = (H - kh) // sh + 1, (W - kw) // 2 + 1
    y = np.full((N, C, OH, OW), -np.inf, np.float32)
    for r in range(kh):
        for c in range(kw):
            win = x[:, :, r:r + sh * (OH - 1) + 1:sh, c:c + 2 * (OW - 1) + 1:2]
            y = np.where(np.isnan(win) | (win > y), win, y)
    return y


# (C, H, W, kh, kw, stride_h)
CASES = [(5, 17, 17, 3, 3, 2), (3, 35, 35, 3, 3, 2), (17, 9, 5, 2, 2, 2), (4, 8, 71, 3, 3, 2),
         (6, 10, 37, 1, 3, 1), (2, 11, 34, 4, 2, 3), (3, 3, 3, 3, 3, 2)]


@pytest.mark.parametrize("case", CASES, ids=lambda c: "C{}_{}x{}_k{}x{}_sh{}".format(*c))
@pytest.mark.parametrize("batch", [1, 3])
def test_matches_row_major_reference(isa, rng, case, batch):
    C, H, W, kh, kw, sh = case
    # few distinct values, signed zeros among them: ties everywhere
    x = rng.choice(np.array([-1.0, -0.0, 0.0, 0.5], np.float32), size=(batch, C, H, W))
    x.reshape(-1)[::29] = np.nan
    want = _reference(x, kh, kw, sh)
    got = ops.max_pool2d(x, (kh, kw), (sh, 2))
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(np.signbit(got), np.signbit(want))
    compiled = cn.compile(nn.Sequential(nn.MaxPool2d((kh, kw), (sh, 2))), x.shape)
    out = compiled(x)
    np.testing.assert_array_equal(out, want)
    np.testing.assert_array_equal(np.signbit(out), np.signbit(want))


def test_random_values_and_infinities(isa, rng):
    x = rng.standard_normal((2, 40, 35, 35)).astype(np.float32)
    x.reshape(-1)[3::101] = -np.inf
    x.reshape(-1)[7::211] = np.inf
    np.testing.assert_array_equal(ops.max_pool2d(x, 3, 2), _reference(x, 3, 3, 2))
