"""getitem: indexing and slicing (`t[...]`) with numpy's rules, and its gradient.

Basic indices (ints, slices with any step, None, Ellipsis) select a view; advanced ones
(integer arrays or lists, boolean masks) a copy. The gradient is the output gradient
placed back where the elements came from, in zeros of the input's shape; with integer
arrays one element may be taken twice, so there the gradient is accumulated (np.add.at).
"""
from __future__ import annotations

import numpy as np

from ..autograd import array_of, record
from ._registry import grad_rule
from ._tensor_args import InvalidIndex, as_array, float32

__all__ = ["getitem"]

_BASIC = (int, slice, type(None), type(Ellipsis), np.integer)


def _plain_index(index):
    """The index with Tensors in it replaced by their arrays (a mask Tensor, say)."""
    if isinstance(index, tuple):
        return tuple(array_of(i) for i in index)
    return array_of(index)


def _is_basic(index) -> bool:
    items = index if isinstance(index, tuple) else (index,)
    return all(isinstance(i, _BASIC) and not isinstance(i, bool) for i in items)


def _select(x, index):
    try:
        return as_array(x[index])
    except IndexError as e:
        raise InvalidIndex(f"getitem: {e} (input shape {x.shape})") from None


def getitem(input, index) -> np.ndarray:
    """input[index] with numpy's indexing rules (torch's for these index kinds): ints,
    slices, steps, None, Ellipsis, integer arrays or lists, boolean masks. An index that
    does not fit (out of bounds, wrong type, mask of another shape) is an IndexError that
    is also a ValueError, naming the input's shape."""
    return _select(float32(input, "getitem", "input"), _plain_index(index))


@grad_rule("getitem")
def _getitem_recorded(input, index):
    x = float32(array_of(input), "getitem", "input")
    index = _plain_index(index)
    out = _select(x, index)
    shape, basic = x.shape, _is_basic(index)

    def backward(g):
        gx = np.zeros(shape, np.float32)
        if basic:
            gx[index] = g  # every element is selected at most once
        else:
            np.add.at(gx, index, g)  # repeated integer indices accumulate
        return (gx,)
    return record(out, (input,), backward, "getitem")
