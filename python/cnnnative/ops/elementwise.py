"""Elementwise arithmetic: add, sub, mul, div, pow, maximum, minimum (NumPy broadcasting,
numbers on either side) and neg, exp, log, sqrt, abs, clamp.

Operands are converted to float32 first and results are float32 arrays (a 0-d array for
0-d operands). The Tensor operators `+ - * / **` and unary minus are these ops. `add` of
two same-shape arrays runs the core's kernel (the residual join of every ResNet block);
the rest is numpy, already vectorised. As in torch, these ops do not warn on division by
zero or log(0): the result is inf or NaN where the math says.

Each op has a recording version beside it. A gradient that reaches a broadcast operand is
summed back to the operand's shape (autograd.unbroadcast).
"""
from __future__ import annotations

import numpy as np

from .. import _core
from ..autograd import array_of, record, unbroadcast, wants
from ._registry import grad_rule
from ._tensor_args import as_array, float32

_F32 = np.dtype(np.float32)

__all__ = ["add", "sub", "mul", "div", "pow", "neg", "exp", "log", "sqrt", "abs", "clamp",
           "maximum", "minimum"]


def _binary(ufunc, op, a, b, first="a", second="b"):
    """ufunc(a, b) on float32 operands, with a broadcast failure named in the op's words."""
    return _apply(ufunc, op, float32(a, op, first), float32(b, op, second), first, second)


def _apply(ufunc, op, x, y, first="a", second="b"):
    """ufunc(x, y) for float32 arrays x and y: always an array (numpy gives a scalar for two
    0-d operands)."""
    try:
        out = ufunc(x, y)
    except ValueError:
        raise ValueError(f"{op}: {first} has shape {x.shape} but {second} has shape {y.shape}, "
                         "which do not broadcast") from None
    return out if type(out) is np.ndarray else np.asarray(out)


def add(a, b) -> np.ndarray:
    """a + b elementwise with NumPy broadcasting; either may be a number. Two arrays of
    one shape take the core's kernel (the residual join), others numpy."""
    if type(a) is np.ndarray and type(b) is np.ndarray and a.shape == b.shape:
        return _core.add(a, b)
    return _binary(np.add, "add", a, b)


def sub(a, b) -> np.ndarray:
    """a - b elementwise, NumPy broadcasting; either may be a number."""
    return _binary(np.subtract, "sub", a, b)


def mul(a, b) -> np.ndarray:
    """a * b elementwise, NumPy broadcasting; either may be a number."""
    return _binary(np.multiply, "mul", a, b)


def div(a, b) -> np.ndarray:
    """a / b elementwise (true division), NumPy broadcasting; either may be a number.
    x / 0 is +-inf and 0 / 0 NaN, without a warning (as torch)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return _binary(np.true_divide, "div", a, b)


def pow(input, exponent) -> np.ndarray:
    """input ** exponent elementwise, NumPy broadcasting; either may be a number (a
    negative base with a fractional exponent gives NaN, as torch)."""
    with np.errstate(all="ignore"):
        return _binary(np.power, "pow", input, exponent, "input", "exponent")


def maximum(a, b) -> np.ndarray:
    """The elementwise larger of a and b (NaN if either is NaN), NumPy broadcasting."""
    return _binary(np.maximum, "maximum", a, b)


def minimum(a, b) -> np.ndarray:
    """The elementwise smaller of a and b (NaN if either is NaN), NumPy broadcasting."""
    return _binary(np.minimum, "minimum", a, b)


def neg(input) -> np.ndarray:
    """-input elementwise."""
    return as_array(np.negative(float32(input, "neg", "input")))


def exp(input) -> np.ndarray:
    """e ** input elementwise (inf past float32's range, without a warning)."""
    with np.errstate(over="ignore"):
        return as_array(np.exp(float32(input, "exp", "input")))


def log(input) -> np.ndarray:
    """Natural logarithm elementwise: -inf at 0, NaN below (no warning, as torch)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return as_array(np.log(float32(input, "log", "input")))


def sqrt(input) -> np.ndarray:
    """Square root elementwise: NaN below 0 (no warning, as torch)."""
    with np.errstate(invalid="ignore"):
        return as_array(np.sqrt(float32(input, "sqrt", "input")))


def abs(input) -> np.ndarray:
    """|input| elementwise."""
    return as_array(np.abs(float32(input, "abs", "input")))


def _bound(value, op, arg):
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{op}: {arg} must be a number or None, got {type(value).__name__} {value!r}")
    return np.float32(value)


def clamp(input, min=None, max=None) -> np.ndarray:
    """input limited to [min, max] elementwise (torch.clamp); min and max are numbers, one
    of them may be None. min > max gives max everywhere, as torch. NaN stays NaN."""
    lo, hi = _bound(min, "clamp", "min"), _bound(max, "clamp", "max")
    if lo is None and hi is None:
        raise ValueError("clamp: at least one of min and max must be given")
    x = float32(input, "clamp", "input")
    if lo is not None:
        x = np.maximum(x, lo)  # NaN propagates through both
    if hi is not None:
        x = np.minimum(x, hi)
    return as_array(x)


# --- recording versions --------------------------------------------------------------------
# Each computes the forward with numpy on float32 operands and keeps only arrays for the
# backward. `wants(t)` is False for numbers and arrays, so their gradient is never formed.
# The dispatcher rebinds the public names above to their dispatching versions; the rules
# call the plain functions, kept here, and skip that second dispatch.
_div, _pow, _clamp = div, pow, clamp


def _operands(a, b, op, first="a", second="b"):
    """The two operands as float32 arrays (Tensors unwrapped), cheaply when they already are:
    this runs on every recorded + - * /."""
    x, y = array_of(a), array_of(b)
    if type(x) is not np.ndarray or x.dtype != _F32:
        x = float32(x, op, first)
    if type(y) is not np.ndarray or y.dtype != _F32:
        y = float32(y, op, second)
    return x, y


_CORE_ADD_MIN = 1 << 16  # elements; below this numpy's single-threaded add is cheaper


def _add_recorded_on_gpu(a, b):
    """Two GPU arrays of one shape (a residual join on the GPU): the GPU kernel, and the
    gradient passes to both unchanged. Other GPU additions are refused by _operands."""
    from ..cuda import ops as cuda_ops
    out = cuda_ops.add(array_of(a), array_of(b))
    return record(out, (a, b), lambda g: (g, g), "add")


@grad_rule("add")
def _add_recorded(a, b):
    xa, xb = array_of(a), array_of(b)
    if (type(xa).__module__ == "cnnnative._cuda" and type(xb).__module__ == "cnnnative._cuda"
            and tuple(xa.shape) == tuple(xb.shape)):
        return _add_recorded_on_gpu(a, b)
    x, y = _operands(a, b, "add")
    # The core's threaded kernel pays for its call only on large arrays.
    out = _core.add(x, y) if x.shape == y.shape and x.size >= _CORE_ADD_MIN else _apply(np.add, "add", x, y)

    def backward(g):
        return (unbroadcast(g, x.shape) if wants(a) else None,
                unbroadcast(g, y.shape) if wants(b) else None)
    return record(out, (a, b), backward, "add")


@grad_rule("sub")
def _sub_recorded(a, b):
    x, y = _operands(a, b, "sub")
    out = _apply(np.subtract, "sub", x, y)

    def backward(g):
        return (unbroadcast(g, x.shape) if wants(a) else None,
                unbroadcast(np.negative(g), y.shape) if wants(b) else None)
    return record(out, (a, b), backward, "sub")


@grad_rule("mul")
def _mul_recorded(a, b):
    x, y = _operands(a, b, "mul")
    out = _apply(np.multiply, "mul", x, y)

    def backward(g):
        return (unbroadcast(g * y, x.shape) if wants(a) else None,
                unbroadcast(g * x, y.shape) if wants(b) else None)
    return record(out, (a, b), backward, "mul")


@grad_rule("div")
def _div_recorded(a, b):
    x, y = _operands(a, b, "div")
    out = _div(x, y)

    def backward(g):
        with np.errstate(all="ignore"):
            return (unbroadcast(g / y, x.shape) if wants(a) else None,
                    unbroadcast(-g * x / (y * y), y.shape) if wants(b) else None)  # torch's form
    return record(out, (a, b), backward, "div")


@grad_rule("pow")
def _pow_recorded(input, exponent):
    x, e = _operands(input, exponent, "pow", "input", "exponent")
    out = _pow(x, e)

    def backward(g):
        gx = ge = None
        with np.errstate(all="ignore"):
            if wants(input):
                # d/dx x**e = e * x**(e-1), and 0 where e == 0 (x**-1 at x = 0 is no excuse
                # for a NaN: x**0 is constant), as torch.
                gx = np.where(e == 0, np.float32(0), g * e * np.power(x, e - np.float32(1)))
                gx = unbroadcast(gx.astype(np.float32, copy=False), x.shape)
            if wants(exponent):
                # d/de x**e = x**e * log(x); 0 where x == 0 and e >= 0 (the limit), as torch.
                ge = np.where((x == 0) & (e >= 0), np.float32(0), g * out * np.log(x))
                ge = unbroadcast(ge.astype(np.float32, copy=False), e.shape)
        return gx, ge
    return record(out, (input, exponent), backward, "pow")


def _ties_halved(x, y, larger):
    """Where the gradient of maximum (larger=True) or minimum goes to x: 1 where x wins,
    1/2 on a tie (torch splits it evenly), 0 where y wins."""
    wins = (x > y) if larger else (x < y)
    return wins.astype(np.float32) + np.float32(0.5) * (x == y)


def _extremum_rule(name, forward, larger):
    @grad_rule(name)
    def recorded(a, b):
        x, y = _operands(a, b, name)
        out = forward(x, y)

        def backward(g):
            share = _ties_halved(x, y, larger)
            return (unbroadcast(g * share, x.shape) if wants(a) else None,
                    unbroadcast(g * (np.float32(1) - share), y.shape) if wants(b) else None)
        return record(out, (a, b), backward, name)
    return recorded


_extremum_rule("maximum", maximum, True)
_extremum_rule("minimum", minimum, False)


def _unary_rule(name, forward, gradient):
    """Record a one-input op; gradient(g, x, out) is d(loss)/d(input)."""
    @grad_rule(name)
    def recorded(input):
        x = float32(array_of(input), name, "input")
        out = forward(x)
        return record(out, (input,), lambda g: (gradient(g, x, out),), name)
    return recorded


_quietly = np.errstate(divide="ignore", invalid="ignore")  # as a decorator: 1/0 is inf, no warning


_unary_rule("neg", neg, lambda g, x, out: np.negative(g))
_unary_rule("exp", exp, lambda g, x, out: g * out)
_unary_rule("log", log, _quietly(lambda g, x, out: g / x))
_unary_rule("sqrt", sqrt, _quietly(lambda g, x, out: g / (np.float32(2) * out)))
# d|x|/dx = sign(x), 0 at 0 and (as torch, and as relu's gradient here) at NaN.
_unary_rule("abs", abs, lambda g, x, out: g * np.subtract(x > 0, x < 0, dtype=np.float32))


@grad_rule("clamp")
def _clamp_recorded(input, min=None, max=None):
    x = float32(array_of(input), "clamp", "input")
    out = _clamp(x, min, max)
    lo, hi = _bound(min, "clamp", "min"), _bound(max, "clamp", "max")

    def backward(g):
        # The gradient passes where min <= x <= max (bounds included, as torch).
        inside = np.ones(x.shape, bool)
        if lo is not None:
            inside &= x >= lo
        if hi is not None:
            inside &= x <= hi
        return (g * inside,)
    return record(out, (input,), backward, "clamp")
