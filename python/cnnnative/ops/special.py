"""Special functions: erf, the Gauss error function (ONNX's Erf, the exact GELU's core).

numpy has no erf, and cnnnative does not depend on scipy, so it is computed here in
float64 and rounded to float32 (equal to math.erf rounded to float32 on a dense grid of
float32 inputs): below |x| = 2 its Taylor series, a polynomial in x^2 (Horner's rule),
which converges fast and cancels little there; from 2 to 4 as 1 - erfc(x), with erfc from
its continued fraction (Laplace), which converges fast for large x; from 4 on erf is 1 in
float32 (erfc(4) < 2e-8 is below half an ulp of 1). Odd symmetry gives the negative half.
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
_FRACTION_BELOW = 4.0
# 2/sqrt(pi) * (-1)^n / (n! (2n+1)), highest power first; the first term left out is
# ~1e-13 of erf(2), far below float32's resolution (26 terms already round exactly)
_SERIES = np.array([_TWO_OVER_SQRT_PI * (-1) ** n / (math.factorial(n) * (2 * n + 1)) for n in range(28)])[::-1]
_FRACTION_DEPTH = 24  # at x = 2 the fraction's error is far below float32's (20 rounds exactly)


def _erf_small(a):
    """erf(a) for 0 <= a < 2: a * sum_n c_n a^(2n), by Horner's rule in a^2."""
    a2 = a * a
    acc = np.full_like(a, _SERIES[0])
    for c in _SERIES[1:]:
        acc *= a2
        acc += c
    return acc * a


def _erf_large(a):
    """erf(a) for 2 <= a < 4: 1 - exp(-a^2) / (sqrt(pi) * f) with
    f = a + (1/2)/(a + 1/(a + (3/2)/(a + ...))), evaluated from its tail."""
    f = a.copy()
    for k in range(_FRACTION_DEPTH, 0, -1):
        f = a + (0.5 * k) / f
    return 1.0 - np.exp(-a * a) / (math.sqrt(math.pi) * f)


def erf(input) -> np.ndarray:
    """The error function 2/sqrt(pi) * integral_0^x exp(-t^2) dt elementwise (float32;
    erf(+-inf) = +-1, NaN stays NaN)."""
    x = float32(input, "erf", "input")
    a = np.abs(x).astype(np.float64)
    out = np.ones_like(a)  # |x| >= 4 (and inf)
    small = a < _SERIES_BELOW
    out[small] = _erf_small(a[small])
    middle = (a >= _SERIES_BELOW) & (a < _FRACTION_BELOW)
    out[middle] = _erf_large(a[middle])
    out[np.isnan(a)] = np.nan
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
