"""The compiled linear node at batch 1-4 with a team: the output features split in 64-feature
blocks over the threads (engine/linear_node.cc). Same bits as one thread (each feature is one
dot product in one order), the float64 reference within float32 rounding, odd sizes (features
not a multiple of 64 or 16, a team with more members than blocks), every ISA, fused
activations, NaN and inf in the input reaching exactly the features they feed."""
import numpy as np
import pytest

import cnnnative as cn
from cnnnative import nn
from thread_count import on_threads

# (in, out): below and above the split threshold (in * out >= 65536), odd tails
SIZES = [(960, 240), (240, 960), (200, 700), (131, 1001), (512, 129), (672, 168), (64, 64)]


def _run(model, x, threads):
    return on_threads(threads, lambda: np.asarray(cn.compile(model, x.shape, poison=True)(x)))


@pytest.mark.parametrize("size", SIZES, ids=str)
@pytest.mark.parametrize("batch", [1, 3])
def test_linear_node_split_matches_one_thread_and_reference(isa, rng, size, batch):
    fin, fout = size
    model = nn.Sequential(nn.Linear(fin, fout), nn.Hardsigmoid())
    model.eval()
    x = rng.standard_normal((batch, fin)).astype(np.float32)
    one, two = _run(model, x, 1), _run(model, x, 2)
    np.testing.assert_array_equal(two, one)
    w = model[0].weight.numpy().astype(np.float64)
    b = model[0].bias.numpy().astype(np.float64)
    want = np.clip((x.astype(np.float64) @ w.T + b) / 6 + 0.5, 0, 1)
    np.testing.assert_allclose(two, want, rtol=1e-5, atol=1e-5)


def test_linear_node_split_nan_and_inf(isa, rng):
    model = nn.Sequential(nn.Linear(480, 640))
    model.eval()
    w = model[0].weight.numpy()
    w[:] = np.abs(w) + 0.01  # positive weights: an inf input gives +inf in every feature
    x = rng.standard_normal((2, 480)).astype(np.float32)
    x[0, 7] = np.nan
    x[1, 300] = np.inf
    got = _run(model, x, 2)
    assert np.isnan(got[0]).all()
    assert np.isposinf(got[1]).all()
    np.testing.assert_array_equal(got, _run(model, x, 1))
