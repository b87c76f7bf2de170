"""Reductions: sum, mean, amax, amin over `dim` (None = all, an int, or a tuple) with
`keepdim`, as torch.sum / torch.mean / torch.amax / torch.amin. float32 in and out.

Gradients: sum spreads the output gradient over the reduced elements, mean spreads it
divided by their count, and amax/amin give it to the elements equal to the extremum,
split evenly among ties (torch's amax/amin rule).
"""
from __future__ import annotations

import numpy as np

from ..autograd import array_of, record
from ._registry import grad_rule
from ._tensor_args import as_array, float32, keepdim_flag, reduced_dims

__all__ = ["sum", "mean", "amax", "amin"]


def _prepare(input, dim, keepdim, op):
    x = float32(input, op, "input")
    if not x.flags.c_contiguous:
        # numpy's pairwise summation follows the memory order: sum a C-ordered copy, so a
        # result does not change with the input's layout (a transposed view, Fortran order).
        x = x.copy()
    return x, reduced_dims(dim, x.ndim, op), keepdim_flag(keepdim, op)


def _count(shape, axes) -> int:
    n = 1
    for a in axes:
        n *= shape[a]
    return n


# np.add.reduce rather than np.sum: the same pairwise float32 summation without np.sum's
# Python wrapper (half the time on small arrays). Quiet, as torch: inf + -inf is NaN and a
# sum past float32's range is inf, without a RuntimeWarning.
@np.errstate(invalid="ignore", over="ignore")
def _sum(x, axes, keep):
    return as_array(np.add.reduce(x, axis=axes, keepdims=keep))


@np.errstate(invalid="ignore", over="ignore")
def _mean(x, axes, keep):
    n = _count(x.shape, axes)  # the mean of nothing is 0 / 0 = NaN, as torch
    return as_array(np.add.reduce(x, axis=axes, keepdims=keep) / np.float32(n))


def _extreme(reduce, op):
    def extreme(x, axes, keep):
        if x.size == 0 and axes and _count(x.shape, axes) == 0:
            raise ValueError(f"{op}: cannot reduce an empty dimension (input shape {x.shape}, "
                             f"dim {axes}): the {op[1:]} of nothing is undefined")
        return as_array(reduce(x, axis=axes, keepdims=keep))
    return extreme


_amax, _amin = _extreme(np.maximum.reduce, "amax"), _extreme(np.minimum.reduce, "amin")


def sum(input, dim=None, keepdim: bool = False) -> np.ndarray:
    """Sum over `dim` (None or () = every dimension; an int; a tuple of ints), dropping the
    reduced dimensions unless keepdim. (2, 3, 4) with dim=(0, 2) -> (3,), keepdim -> (1, 3, 1)."""
    return _sum(*_prepare(input, dim, keepdim, "sum"))


def mean(input, dim=None, keepdim: bool = False) -> np.ndarray:
    """Mean over `dim` (as sum). The mean of an empty selection is NaN, as torch."""
    return _mean(*_prepare(input, dim, keepdim, "mean"))


def amax(input, dim=None, keepdim: bool = False) -> np.ndarray:
    """Maximum over `dim` (as sum); NaN if a NaN is among the values. Reducing an empty
    dimension is a ValueError."""
    return _amax(*_prepare(input, dim, keepdim, "amax"))


def amin(input, dim=None, keepdim: bool = False) -> np.ndarray:
    """Minimum over `dim` (as amax)."""
    return _amin(*_prepare(input, dim, keepdim, "amin"))


# --- recording versions --------------------------------------------------------------------

def _expanded(g, shape, axes, keep):
    """The output gradient with the reduced dimensions back (size 1), ready to broadcast
    against the input."""
    return g if keep else np.expand_dims(g, axes)


@grad_rule("sum")
def _sum_recorded(input, dim=None, keepdim=False):
    x, axes, keep = _prepare(array_of(input), dim, keepdim, "sum")
    shape = x.shape
    out = _sum(x, axes, keep)
    # A broadcast view, not a copy: the walk copies before handing it to a leaf's .grad.
    return record(out, (input,), lambda g: (np.broadcast_to(_expanded(g, shape, axes, keep), shape),), "sum")


@grad_rule("mean")
def _mean_recorded(input, dim=None, keepdim=False):
    x, axes, keep = _prepare(array_of(input), dim, keepdim, "mean")
    shape = x.shape
    out = _mean(x, axes, keep)
    scale = np.float32(1.0 / max(_count(shape, axes), 1))

    def backward(g):
        return (np.broadcast_to(_expanded(g, shape, axes, keep) * scale, shape),)
    return record(out, (input,), backward, "mean")


def _extreme_rule(name, forward):
    @grad_rule(name)
    def recorded(input, dim=None, keepdim=False):
        x, axes, keep = _prepare(array_of(input), dim, keepdim, name)
        out = forward(x, axes, keep)

        def backward(g):
            winners = x == _expanded(out, x.shape, axes, keep)
            ties = np.sum(winners, axis=axes, keepdims=True, dtype=np.float32)
            with np.errstate(divide="ignore", invalid="ignore"):  # a NaN extremum: no winner, NaN gradient (torch)
                return (winners * (_expanded(g, x.shape, axes, keep) / ties),)
        return record(out, (input,), backward, name)
    return recorded


_extreme_rule("amax", _amax)
_extreme_rule("amin", _amin)
