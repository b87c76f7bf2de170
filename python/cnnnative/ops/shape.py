"""Shape ops: reshape and flatten (views of the same memory where numpy gives one).

Each has a recording version: the gradient of a reshape is the output gradient reshaped
back to the input's shape.
"""
from __future__ import annotations

import numpy as np

from ..autograd import array_of, record
from ._args import index
from ._registry import grad_rule

__all__ = ["reshape", "flatten"]


def _shape_arg(shape, name="shape"):
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
        return (int(shape),)
    try:
        return tuple(index(s, name) for s in shape)
    except TypeError:
        raise TypeError(f"{name} must be an int or a sequence of ints, got {shape!r}") from None


def reshape(input, shape):
    """input with a new shape (one dimension may be -1), as torch.reshape. A view when the
    memory allows it. A shape with another number of elements is a ValueError naming both."""
    x = np.asarray(input)
    target = _shape_arg(shape)
    try:
        return x.reshape(target)
    except ValueError:
        raise ValueError(f"reshape: cannot view input of shape {x.shape} ({x.size} elements) as "
                         f"{target}") from None


def _dim(d, ndim, name):
    d = index(d, name)
    if not -max(ndim, 1) <= d < max(ndim, 1):
        raise IndexError(f"{name} {d} is out of range for a {ndim}-D input")
    return d % max(ndim, 1)


def flatten(input, start_dim: int = 0, end_dim: int = -1):
    """Merge dims start_dim..end_dim into one (torch.flatten). nn.Flatten uses start_dim=1."""
    x = np.asarray(input)
    if x.ndim == 0:
        return x.reshape(1)
    s, e = _dim(start_dim, x.ndim, "start_dim"), _dim(end_dim, x.ndim, "end_dim")
    if s > e:
        raise ValueError(f"flatten: start_dim ({start_dim}) comes after end_dim ({end_dim}) for a "
                         f"{x.ndim}-D input")
    n = int(np.prod(x.shape[s:e + 1], dtype=np.int64))
    return x.reshape(x.shape[:s] + (n,) + x.shape[e + 1:])


@grad_rule("reshape")
def _reshape_recorded(input, shape):
    x = array_of(input)
    y = reshape(x, shape)
    return record(y, (input,), lambda g: (np.reshape(g, x.shape),), "reshape")


@grad_rule("flatten")
def _flatten_recorded(input, start_dim: int = 0, end_dim: int = -1):
    x = array_of(input)
    y = flatten(x, start_dim, end_dim)
    return record(y, (input,), lambda g: (np.reshape(g, np.shape(x)),), "flatten")
