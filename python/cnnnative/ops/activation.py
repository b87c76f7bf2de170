"""Activations, add_relu, softmax / log-softmax and dropout (add is in elementwise.py).

Every function takes numpy arrays of any shape (converted to C-contiguous float32 first)
and returns a new float32 array of the same shape; none modifies its input, except through
`out=` (the ReLU family): a C-contiguous writeable float32 array of the result's shape that
receives the result and is returned. It may be exactly one of the inputs (in-place; the
kernels read each element before writing its slot) but must not partly overlap one. Backward
functions sit beside their forward and take what the forward returned (its output), except
leaky_relu_backward and the silu / gelu / hardswish / hardsigmoid backwards, which take the
forward's input (as torch.nn.functional).
"""
from __future__ import annotations

import itertools
import os
import threading

import numpy as np

from .. import _core
from ._args import index

__all__ = [
    "relu", "relu_backward", "relu6", "relu6_backward", "leaky_relu", "leaky_relu_backward",
    "sigmoid", "sigmoid_backward", "tanh", "tanh_backward", "silu", "silu_backward", "gelu",
    "gelu_backward", "hardswish", "hardswish_backward", "hardsigmoid", "hardsigmoid_backward", "softmax", "softmax_backward",
    "log_softmax", "log_softmax_backward", "add_relu", "dropout", "dropout_backward",
    "set_dropout_seed",
]


def relu(x, *, out=None) -> np.ndarray:
    """max(x, 0) elementwise (NaN stays NaN). x: any shape -> same shape (into `out`
    when given; out=x is in-place)."""
    return _core.relu(x, out)


def relu_backward(grad_output, output, *, out=None) -> np.ndarray:
    """grad_output where relu's output > 0, else 0. Both the same shape (into `out` when
    given; out=grad_output is in-place)."""
    return _core.relu_backward(grad_output, output, out)


def relu6(x, *, out=None) -> np.ndarray:
    """min(max(x, 0), 6) elementwise. x: any shape -> same shape (into `out` when given)."""
    return _core.relu6(x, out)


def relu6_backward(grad_output, output, *, out=None) -> np.ndarray:
    """grad_output where 0 < relu6's output < 6, else 0. Both the same shape (into `out`
    when given)."""
    return _core.relu6_backward(grad_output, output, out)


def leaky_relu(x, negative_slope: float = 0.01, *, out=None) -> np.ndarray:
    """x where x > 0, else x * negative_slope. x: any shape -> same shape (into `out`
    when given)."""
    return _core.leaky_relu(x, float(negative_slope), out)


def leaky_relu_backward(grad_output, input, negative_slope: float = 0.01, *, out=None) -> np.ndarray:
    """grad_output where the forward's input > 0, else grad_output * negative_slope (into
    `out` when given). With an in-place forward pass its output as `input`: the sign is the
    same for a positive slope."""
    return _core.leaky_relu_backward(grad_output, input, float(negative_slope), out)


def sigmoid(x) -> np.ndarray:
    """1 / (1 + exp(-x)) elementwise (no overflow for any x). Any shape -> same shape."""
    return _core.sigmoid(x)


def sigmoid_backward(grad_output, output) -> np.ndarray:
    """grad_output * output * (1 - output), from sigmoid's output."""
    return _core.sigmoid_backward(grad_output, output)


def tanh(x) -> np.ndarray:
    """tanh(x) elementwise. Any shape -> same shape."""
    return _core.tanh(x)


def tanh_backward(grad_output, output) -> np.ndarray:
    """grad_output * (1 - output**2), from tanh's output."""
    return _core.tanh_backward(grad_output, output)


# --- modern activations: torch.nn.functional's formulas, gradients from the input ----------
_GELU_APPROXIMATIONS = ("none", "tanh")


def _gelu_kind(approximate) -> str:
    if not isinstance(approximate, str) or approximate not in _GELU_APPROXIMATIONS:
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return approximate


def silu(x, *, out=None) -> np.ndarray:
    """x * sigmoid(x) (swish), computed as x / (1 + exp(-x)) like PyTorch (so silu(-inf)
    is NaN there and here). Any shape -> same shape (into `out` when given)."""
    return _core.silu(x, out)


def silu_backward(grad_output, input) -> np.ndarray:
    """grad_output * s * (1 + x * (1 - s)), s = sigmoid(x), from silu's input."""
    return _core.silu_backward(grad_output, input)


def gelu(x, approximate: str = "none") -> np.ndarray:
    """x * Phi(x), Phi the standard normal CDF (approximate='none'), or
    x/2 * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x^3))) (approximate='tanh'). Any shape ->
    same shape. Another `approximate` is a ValueError."""
    if _gelu_kind(approximate) == "tanh":
        return _core.gelu_tanh(x)
    return _core.gelu(x)


def gelu_backward(grad_output, input, approximate: str = "none") -> np.ndarray:
    """The gradient of gelu (same `approximate`), from its input."""
    if _gelu_kind(approximate) == "tanh":
        return _core.gelu_tanh_backward(grad_output, input)
    return _core.gelu_backward(grad_output, input)


def hardswish(x, *, out=None) -> np.ndarray:
    """x * relu6(x + 3) / 6 elementwise (NaN stays NaN). Any shape -> same shape (into
    `out` when given; out=x is in-place)."""
    return _core.hardswish(x, out)


def hardswish_backward(grad_output, input) -> np.ndarray:
    """0 where x <= -3, grad_output where x >= 3, grad_output * (x/3 + 1/2) between (PyTorch's
    values at the kinks), from hardswish's input."""
    return _core.hardswish_backward(grad_output, input)


def hardsigmoid(x, *, out=None) -> np.ndarray:
    """relu6(x + 3) / 6 elementwise (NaN stays NaN). Any shape -> same shape (into `out`
    when given; out=x is in-place)."""
    return _core.hardsigmoid(x, out)


def hardsigmoid_backward(grad_output, input) -> np.ndarray:
    """grad_output / 6 where -3 < x < 3, else 0 (also at +-3 and for NaN x, as PyTorch),
    from hardsigmoid's input."""
    return _core.hardsigmoid_backward(grad_output, input)


def softmax(x, dim: int = -1) -> np.ndarray:
    """exp(x) / sum(exp(x)) along `dim` (any dim, negative counts from the end).

    Stable for any magnitude (the maximum along `dim` is subtracted first). x: any shape ->
    same shape. A dim outside [-ndim, ndim) is a ValueError.
    """
    return _core.softmax(x, index(dim, "dim"))


def softmax_backward(grad_output, output, dim: int = -1) -> np.ndarray:
    """output * (grad_output - sum(grad_output * output, dim)), from softmax's output."""
    return _core.softmax_backward(grad_output, output, index(dim, "dim"))


def log_softmax(x, dim: int = -1) -> np.ndarray:
    """x - max - log(sum(exp(x - max))) along `dim`. Any shape -> same shape."""
    return _core.log_softmax(x, index(dim, "dim"))


def log_softmax_backward(grad_output, output, dim: int = -1) -> np.ndarray:
    """grad_output - exp(output) * sum(grad_output, dim), from log_softmax's output."""
    return _core.log_softmax_backward(grad_output, output, index(dim, "dim"))


def add_relu(a, b) -> np.ndarray:
    """relu(a + b) in one pass (the residual-block join). Same shapes, no broadcasting.
    Its gradient is relu_backward(grad_output, output) for both a and b."""
    return _core.add_relu(a, b)


# --- dropout -------------------------------------------------------------------------------
# Unseeded calls draw seeds from a process-level stream: (process seed, call counter) mixed
# into 64 bits. The process seed comes from the OS unless set_dropout_seed() fixes it.
_seed_lock = threading.Lock()
_process_seed = int.from_bytes(os.urandom(8), "little")
_calls = itertools.count()


def set_dropout_seed(seed: int) -> None:
    """Fix the process-level seed that dropout(seed=None) draws from, and restart its
    stream, so a whole run's masks are reproducible."""
    global _process_seed, _calls
    with _seed_lock:
        _process_seed = index(seed, "seed") & (2**64 - 1)
        _calls = itertools.count()


def _next_seed() -> int:
    with _seed_lock:
        n = next(_calls)
        base = _process_seed
    # splitmix64 of (base + n * golden ratio): distinct, well-spread seeds per call.
    z = (base + (n + 1) * 0x9E3779B97F4A7C15) & (2**64 - 1)
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & (2**64 - 1)
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & (2**64 - 1)
    return z ^ (z >> 31)


def _check_p(p) -> float:
    p = float(p)
    if not (0.0 <= p < 1.0):
        raise ValueError(f"dropout: p must be in [0, 1), got {p}")
    return p


def dropout(input, p: float = 0.5, training: bool = True, *, seed=None, return_mask: bool = False):
    """Inverted dropout: each element is zeroed with probability p, the kept ones are
    scaled by 1.0f / float32(1 - p) (as PyTorch), so the expectation is unchanged.

    input: any shape. p in [0, 1) (else ValueError). seed: an int gives the same mask
    every time (the mask depends only on seed and element position, not on threads or ISA);
    None draws the next seed of the process-level stream (see set_dropout_seed).
    When p == 0 or training is False the input (as float32) is returned unchanged.
    Returns out, or (out, mask) with return_mask: mask uint8 (1 = kept), input's shape.
    """
    p = _check_p(p)
    if p == 0.0 or not training:
        x = np.asarray(input, dtype=np.float32)
        return (x, np.ones(x.shape, dtype=np.uint8)) if return_mask else x
    s = _next_seed() if seed is None else index(seed, "seed") & (2**64 - 1)
    out, mask = _core.dropout(input, p, s)
    return (out, mask) if return_mask else out


def dropout_backward(grad_output, mask, p: float) -> np.ndarray:
    """grad_output * mask * (1.0f / float32(1 - p)). grad_output and mask (from
    dropout(..., return_mask=True)) have the same shape. mask: a keep-mask of 0/1 values
    (uint8 as dropout returns, bool, or any integer type); other dtypes are a TypeError,
    other values a ValueError (uint8 conversion would wrap 256 to 0)."""
    return _core.dropout_backward(grad_output, _keep_mask(mask), _check_p(p))


def _keep_mask(mask) -> np.ndarray:
    m = np.asarray(mask)
    if m.dtype != np.bool_ and not np.issubdtype(m.dtype, np.integer):
        raise TypeError(f"dropout_backward: mask must be a bool or integer 0/1 keep-mask, got dtype {m.dtype}")
    if m.dtype != np.bool_ and m.size and (m.min() < 0 or m.max() > 1):
        raise ValueError(f"dropout_backward: mask values must be 0 or 1, found values in "
                         f"[{m.min()}, {m.max()}]")
    return m if m.dtype == np.uint8 else m.astype(np.uint8)


# --- recording versions (autograd): each reuses the backward kernel beside its forward -----
from ..autograd import array_of as _array_of, record as _record, wants as _wants  # noqa: E402
from ..tensor import Tensor as _Tensor  # noqa: E402
from . import _private  # noqa: E402
from ._registry import grad_rule as _grad_rule  # noqa: E402


def _from_output(name, forward, backward_kernel, *, in_place=False):
    """Rule for an activation whose gradient needs only its output (relu, tanh, ...).

    in_place (the ReLU family, whose kernels take out=): `op(x, out=x)` on a recorded
    Tensor overwrites x's array when nothing else refers to it (PyTorch's relu_), else
    writes a fresh array; either way the result is returned. The backward writes into the
    incoming gradient when only the walk holds it. See ops/_private.py."""
    @_grad_rule(name)
    def recorded(x, *, out=None):
        if out is None:
            y = forward(_array_of(x))
        elif in_place and out is x and isinstance(x, _Tensor):
            # Asked before this frame takes a reference to the array.
            y = forward(x.data, out=x.data) if _private.tensor_array_is_private(x) else forward(x.data)
        else:
            raise ValueError(f"{name}(out=...) cannot record a gradient (it overwrites an array "
                             "the backward may need); drop out= or use cnnnative.no_grad()")
        if not in_place:
            return _record(y, (x,), lambda g: (backward_kernel(g, y),), name)
        _private.calibrate()

        def backward(g):
            return (backward_kernel(g, y, out=g) if _private.grad_is_private(g) else backward_kernel(g, y),)

        return _record(y, (x,), backward, name)
    return recorded


_from_output("relu", relu, relu_backward, in_place=True)
_from_output("relu6", relu6, relu6_backward, in_place=True)
_from_output("sigmoid", lambda x: sigmoid(x), sigmoid_backward)
_from_output("tanh", lambda x: tanh(x), tanh_backward)


@_grad_rule("leaky_relu")
def _leaky_relu_recorded(x, negative_slope: float = 0.01, *, out=None):
    if out is not None:
        raise ValueError("leaky_relu(out=...) cannot record a gradient; drop out=")
    xa = np.ascontiguousarray(_array_of(x), dtype=np.float32)
    y = leaky_relu(xa, negative_slope)
    return _record(y, (x,), lambda g: (leaky_relu_backward(g, xa, negative_slope),), "leaky_relu")


def _from_input(name, forward, backward_kernel):
    """Rule for an activation whose gradient needs its input (silu, hardswish, ...): the
    input array is kept (as float32) for the backward."""
    @_grad_rule(name)
    def recorded(x, *, out=None):
        if out is not None:
            raise ValueError(f"{name}(out=...) cannot record a gradient; drop out= or use cnnnative.no_grad()")
        xa = np.ascontiguousarray(_array_of(x), dtype=np.float32)
        return _record(forward(xa), (x,), lambda g: (backward_kernel(g, xa),), name)
    return recorded


_from_input("silu", silu, silu_backward)
_from_input("hardswish", hardswish, hardswish_backward)
_from_input("hardsigmoid", hardsigmoid, hardsigmoid_backward)


@_grad_rule("gelu")
def _gelu_recorded(x, approximate: str = "none"):
    approximate = _gelu_kind(approximate)
    xa = np.ascontiguousarray(_array_of(x), dtype=np.float32)
    y = gelu(xa, approximate)
    return _record(y, (x,), lambda g: (gelu_backward(g, xa, approximate),), "gelu")


@_grad_rule("softmax")
def _softmax_recorded(x, dim: int = -1):
    y = softmax(_array_of(x), dim)
    return _record(y, (x,), lambda g: (softmax_backward(g, y, dim),), "softmax")


@_grad_rule("log_softmax")
def _log_softmax_recorded(x, dim: int = -1):
    y = log_softmax(_array_of(x), dim)
    return _record(y, (x,), lambda g: (log_softmax_backward(g, y, dim),), "log_softmax")


@_grad_rule("add_relu")
def _add_relu_recorded(a, b):
    y = add_relu(_array_of(a), _array_of(b))

    def backward(g):
        gy = relu_backward(g, y) if (_wants(a) or _wants(b)) else None
        return gy, gy  # the walk copies one of them if both reach leaves

    return _record(y, (a, b), backward, "add_relu")


@_grad_rule("dropout")
def _dropout_recorded(input, p: float = 0.5, training: bool = True, *, seed=None, return_mask: bool = False):
    p = _check_p(p)
    if p == 0.0 or not training:
        x = np.asarray(_array_of(input), dtype=np.float32)
        y = _record(x, (input,), lambda g: (g,), "dropout")  # identity
        return (y, np.ones(x.shape, np.uint8)) if return_mask else y
    y, mask = dropout(_array_of(input), p, True, seed=seed, return_mask=True)
    t = _record(y, (input,), lambda g: (dropout_backward(g, mask, p),), "dropout")
    return (t, mask) if return_mask else t
