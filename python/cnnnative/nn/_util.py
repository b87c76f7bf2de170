"""Small shared helpers for layers: argument normalisation and per-sample shape checks."""
from __future__ import annotations

import numpy as np

from ..ops._args import finite, index, pair, padding4
from ..autograd import is_grad_enabled
from ..tensor import Tensor

__all__ = ["finite", "index", "pair", "padding4", "positive", "non_negative", "as_input", "weights_for", "conv_out",
           "empty_param"]

_MAX_PARAM_ELEMENTS = 2 ** 36  # 256 GiB of float32: anything larger is a mistake, not a model


def empty_param(shape, what: str) -> np.ndarray:
    """Uninitialised float32 array for a parameter; absurd sizes are an OverflowError
    naming the parameter (sizes multiplied in Python integers, which cannot overflow)."""
    n = 1
    for d in shape:
        n *= int(d)
    if n > _MAX_PARAM_ELEMENTS:
        raise OverflowError(f"{what} of shape {tuple(shape)} would hold {n} elements "
                            f"(more than {_MAX_PARAM_ELEMENTS})")
    return np.empty(shape, np.float32)


def positive(value, name: str) -> int:
    v = index(value, name)
    if v <= 0:
        raise ValueError(f"{name} must be positive, got {value!r}")
    return v


def non_negative(value, name: str) -> int:
    v = index(value, name)
    if v < 0:
        raise ValueError(f"{name} must be >= 0, got {value!r}")
    return v


def as_input(x, layer, ndim=None):
    """Convert to C-contiguous float32 and check the rank, naming the layer on failure.
    A cnnnative.Tensor (recording) or cnnnative.cuda.Tensor is kept as it is (its rank is
    checked); the ops convert its array."""
    if type(x) is np.ndarray and x.dtype == np.float32 and x.flags.c_contiguous:
        if ndim is not None and x.ndim not in ((ndim,) if isinstance(ndim, int) else ndim):
            raise ValueError(f"{layer!r}: expected a {ndim}-D input, got shape {x.shape}")
        return x
    if isinstance(x, Tensor) or type(x).__module__ == "cnnnative._cuda":
        if ndim is not None and x.ndim not in ((ndim,) if isinstance(ndim, int) else ndim):
            raise ValueError(f"{layer!r}: expected a {ndim}-D input, got shape {x.shape}")
        return x
    try:
        a = np.ascontiguousarray(x, dtype=np.float32)
    except (TypeError, ValueError) as e:
        raise TypeError(f"{layer!r}: input must be convertible to float32: {e}") from None
    if ndim is not None and a.ndim not in ((ndim,) if isinstance(ndim, int) else ndim):
        raise ValueError(f"{layer!r}: expected a {ndim}-D input, got shape {a.shape}")
    return a


def conv_out(size: int, k: int, stride: int, pad_total: int, dilation: int = 1,
             ceil_mode: bool = False, pad_begin: int = 0) -> int:
    """Output length of a sliding window (PyTorch's formula, incl. ceil_mode's rule that
    the last window must start inside the input or left padding)."""
    span = size + pad_total - dilation * (k - 1) - 1
    if span < 0:
        return 0
    if ceil_mode:
        out = -(-span // stride) + 1
        if (out - 1) * stride >= size + pad_begin:
            out -= 1
        return out
    return span // stride + 1


def weights_for(x, *params):
    """The parameters as a layer passes them to its op: the Parameters themselves when the
    call records (grad mode on, and a parameter or the input requires grad), else their
    arrays. So an inference call (no_grad, frozen layers) on a numpy array takes the plain
    numpy path of the op -- numpy out, nothing wrapped -- as the functional API does."""
    if is_grad_enabled():
        if isinstance(x, Tensor) and x.requires_grad:
            return params
        for p in params:
            if p is not None and p.requires_grad:
                return params
    return tuple(None if p is None else p.data for p in params)
