"""Special functions: erf, the Gauss error function (ONNX's Erf, the exact GELU's core).

numpy has no erf, and cnnnative does not depend on scipy, so it is computed here in
float64 and rounded to float32 (correctly rounded in practice: it agrees with math.erf
to about 1e-15 relative): the Taylor series below |x| = 2, where it converges fast and
cancels little, and above it 1 - erfc(x) with erfc from its continued fraction (Laplace),
which converges fast for large x. Odd symmetry gives the negative half.
"""
from __future__ import annotations

import math

import numpy as np

from ..autograd import array_of, record
from ._registry import grad_rule
from ._tensor_args import as_array, float32

__all__ = ["erf"]

_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)
_SERIES_BELOW = 2.0
_SERIES_TERMS = 36       # the last term at |x| = 2 is ~1e-17 of the sum
_FRACTION_DEPTH = 60     # the continued fraction's error at x = 2 is far below float32's


def _erf_small(a):
    """erf(a) for 0 <= a < 2: 2/sqrt(pi) * sum_n (-1)^n a^(2n+1) / (n! (2n+1))."""
    a2 = a * a
    term = a.copy()
    total = a.copy()
    for n in range(1, _SERIES_TERMS):
        term *= -a2 / n
        total += term / (2 * n + 1)
    return total * _TWO_OVER_SQRT_PI


def _erf_large(a):
    """erf(a) for a >= 2 (inf and NaN pass through): 1 - exp(-a^2) / (sqrt(pi) * f) with
    f = a + (1/2)/(a + 1/(a + (3/2)/(a + ...))), evaluated from its tail."""
    f = a.copy()
    with np.errstate(invalid="ignore"):
        for k in range(_FRACTION_DEPTH, 0, -1):
            f = a + (0.5 * k) / f
        return 1.0 - np.exp(-a * a) / (math.sqrt(math.pi) * f)


def erf(input) -> np.ndarray:
    """The error function 2/sqrt(pi) * integral_0^x exp(-t^2) dt elementwise (float32;
    erf(+-inf) = +-1, NaN stays NaN)."""
    x = float32(input, "erf", "input")
    a = np.abs(x.astype(np.float64))
    out = np.empty_like(a)
    small = a < _SERIES_BELOW
    out[small] = _erf_small(a[small])
    out[~small] = _erf_large(a[~small])
    return as_array(np.copysign(out, x).astype(np.float32))


@grad_rule("erf")
def _erf_recorded(input):
    x = float32(array_of(input), "erf", "input")
    out = erf(x)

    def backward(g):
        # d erf / dx = 2/sqrt(pi) * exp(-x^2)
        with np.errstate(under="ignore"):
            slope = (np.float32(_TWO_OVER_SQRT_PI) * np.exp(-np.square(x))).astype(np.float32)
        return (g * slope,)
    return record(out, (input,), backward, "erf")
