"""The engine's global average pool (16 running sums per plane) against a float64 mean:
plane sizes around the 16 lanes, one pixel, a large plane, batch 1 and > 1, NaN and inf."""
import numpy as np
import pytest

import cnnnative as cn
from cnnnative import nn


@pytest.mark.parametrize("hw", [(1, 1), (3, 5), (4, 4), (1, 17), (7, 7), (112, 112)])
@pytest.mark.parametrize("batch", [1, 3])
def test_matches_the_float64_mean(isa, hw, batch):
    rng = np.random.default_rng(hw[0] * 1000 + hw[1])
    x = (rng.standard_normal((batch, 5) + hw) * 3 + 1).astype(np.float32)
    run = cn.compile(nn.Sequential(nn.GlobalAvgPool2d(), nn.Flatten()), x.shape)
    want = x.astype(np.float64).mean(axis=(2, 3))
    got = run(x)
    # Each sum rounds about log2(HW / 16) + 16 times at most; bound it by the absolute sum.
    bound = 1e-6 * (np.log2(max(hw[0] * hw[1], 2)) + 17) * np.abs(x.astype(np.float64)).mean(axis=(2, 3))
    assert np.all(np.abs(got - want) <= bound + 1e-30)


def test_nan_and_inf_propagate(isa):
    x = np.ones((2, 4, 9, 11), np.float32)
    x[0, 0, 3, 4] = np.nan
    x[0, 1, 8, 10] = np.inf
    x[1, 2, 0, 0] = -np.inf
    x[1, 3, 2, 2], x[1, 3, 5, 5] = np.inf, -np.inf
    got = cn.compile(nn.Sequential(nn.GlobalAvgPool2d(), nn.Flatten()), x.shape)(x)
    assert np.isnan(got[0, 0]) and got[0, 1] == np.inf and got[1, 2] == -np.inf and np.isnan(got[1, 3])
    assert np.all(got[0, 2:] == 1) and np.all(got[1, :2] == 1)
