"""Argument checks shared by the tensor ops (elementwise, matmul, reduce, shape, index):
float32 conversion of operands, and `dim` arguments normalised as torch does."""
from __future__ import annotations

import numpy as np

from ._args import index

_F32 = np.dtype(np.float32)


class InvalidIndex(IndexError, ValueError):
    """A dim or an index that does not fit the input. An IndexError, as torch and numpy
    raise (and as iteration over a Tensor expects at its end), and a ValueError, as every
    cnnnative op raises for bad input."""


def float32(value, op: str, arg: str) -> np.ndarray:
    """`value` (an array, a number or a nested list) as a float32 array; a float32 ndarray
    comes back as it is (no copy). Complex values, None and strings are a TypeError."""
    if type(value) is np.ndarray and value.dtype == _F32:
        return value
    if value is None or isinstance(value, (str, bytes)):
        raise TypeError(f"{op}: {arg} must be an array or a number, got {type(value).__name__}")
    if type(value).__module__ == "cnnnative._cuda":  # not silently copied to the host
        raise TypeError(f"{op}: {arg} is a GPU array, and {op} runs on the host only; move it "
                        "with .numpy() (or to the GPU ops of cnnnative.cuda.ops, without autograd)")
    if np.iscomplexobj(value):
        raise TypeError(f"{op}: {arg} must be real, got dtype {np.asarray(value).dtype}")
    try:
        return np.asarray(value, dtype=np.float32)
    except (TypeError, ValueError) as e:
        raise TypeError(f"{op}: {arg} must be convertible to a float32 array: {e}") from None


def as_array(result) -> np.ndarray:
    """numpy returns a scalar for a 0-d result; ops always return arrays (so a Tensor wraps
    them)."""
    return result if type(result) is np.ndarray else np.asarray(result, dtype=np.float32)


def dim(d, ndim: int, op: str, arg: str = "dim", extra: int = 0) -> int:
    """`d` as an index in [0, ndim + extra): negative counts from the end, as torch (a 0-d
    input accepts 0 and -1). extra=1 for a dim that may be one past the end (unsqueeze,
    stack)."""
    d = index(d, f"{op}: {arg}")
    n = max(ndim + extra, 1)
    if not -n <= d < n:
        raise InvalidIndex(f"{op}: {arg} {d} is out of range for a {ndim}-D input "
                           f"(expected [{-n}, {n - 1}])")
    return d % n


def reduced_dims(d, ndim: int, op: str) -> tuple:
    """The axes a reduction runs over: None (or an empty tuple, as torch) = all of them;
    an int or a sequence of ints otherwise, each at most once."""
    if d is None:
        return tuple(range(ndim))
    if isinstance(d, (tuple, list)):
        axes = tuple(dim(a, ndim, op) for a in d)
        if len(set(axes)) != len(axes):
            raise ValueError(f"{op}: dim {tuple(d)} names a dimension twice")
        if not axes:
            return tuple(range(ndim))
    else:
        axes = (dim(d, ndim, op),)
    return axes if ndim else ()  # a 0-d input: dim 0 / -1 reduce nothing


def keepdim_flag(keepdim, op: str) -> bool:
    if isinstance(keepdim, (bool, np.bool_)):
        return bool(keepdim)
    if isinstance(keepdim, (int, np.integer)) and keepdim in (0, 1):
        return bool(keepdim)
    raise TypeError(f"{op}: keepdim must be a bool, got {type(keepdim).__name__} {keepdim!r}")
