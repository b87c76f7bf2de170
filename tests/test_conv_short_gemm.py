"""The im2col forward's and input gradient's short-product path (few output channels, no packed GEMM; AVX-512
only, other ISAs take the packed GEMM): every output element written, edges of its
8-row x 48-column register tile, row bias, against a float64 reference under every ISA."""
import numpy as np
import pytest

from cnnnative import ops
from ref_conv import conv2d_input_ref, conv2d_ref

EPS32 = np.finfo(np.float32).eps


@pytest.fixture(autouse=True)
def nan_poison(monkeypatch):
    # Scratch (column matrix, staging) starts as NaN: a forgotten element shows up.
    monkeypatch.setenv("CNNNATIVE_DEBUG_NAN", "1")


# (N, C, H, W, K, R): K around the 8-row block (1, 7, 8, 9, 16) and the 16-row limit
# (17 takes the packed GEMM); output widths around the 48-column slab (47, 48, 49, primes);
# batch 1 and several stacked images (LeNet's conv2 shape last).
CASES = [
    (1, 1, 5, 5, 1, 3),
    (3, 2, 9, 9, 7, 3),
    (2, 3, 8, 8, 8, 1),
    (1, 5, 11, 9, 9, 3),
    (5, 6, 14, 14, 16, 5),
    (2, 4, 13, 13, 17, 3),
    (7, 3, 7, 13, 5, 3),
    (4, 2, 50, 1, 3, 1),
    (64, 6, 14, 14, 16, 5),
]


@pytest.mark.parametrize("bias", [False, True], ids=["nobias", "bias"])
@pytest.mark.parametrize("case", CASES, ids=lambda c: "x".join(map(str, c)))
def test_short_forward_matches_reference(case, bias, isa, rng):
    N, C, H, W, K, R = case
    x = rng.standard_normal((N, C, H, W)).astype(np.float32)
    w = rng.standard_normal((K, C, R, R)).astype(np.float32)
    b = rng.standard_normal(K).astype(np.float32) if bias else None
    got = ops.conv2d(x, w, b, algo="im2col")
    want = conv2d_ref(x, w, b)
    assert np.all(np.isfinite(got)), "an output element was not written"
    # Each output is a float32 sum of C*R*R products (+ bias): the error is at most about
    # (terms + 2) * eps times the sum of absolute terms.
    abs_terms = conv2d_ref(np.abs(x), np.abs(w), np.abs(b) if bias else None)
    bound = (C * R * R + 3) * EPS32 * abs_terms + 1e-30
    err = np.abs(got.astype(np.float64) - want)
    assert np.all(err <= bound), f"max error {err.max():.3g}"


@pytest.mark.parametrize("case", CASES, ids=lambda c: "x".join(map(str, c)))
def test_short_input_gradient_matches_reference(case, isa, rng):
    # The input gradient's product is C*R*R x pixels x K: K (the reduction) at most 16
    # takes the short path with A = w transposed.
    N, C, H, W, K, R = case
    w = rng.standard_normal((K, C, R, R)).astype(np.float32)
    dy = rng.standard_normal((N, K, H - R + 1, W - R + 1)).astype(np.float32)
    got = ops.conv2d_input((N, C, H, W), w, dy, algo="im2col")
    want = conv2d_input_ref((N, C, H, W), w, dy)
    assert np.all(np.isfinite(got)), "an input-gradient element was not written"
    # Each element sums at most K*R*R products (float32 GEMM, then col2im adds).
    abs_terms = conv2d_input_ref((N, C, H, W), np.abs(w), np.abs(dy))
    bound = (K * R * R + 2) * EPS32 * abs_terms + 1e-30
    err = np.abs(got.astype(np.float64) - want)
    assert np.all(err <= bound), f"max error {err.max():.3g}"
