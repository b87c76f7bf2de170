"""1-D and 3-D max and average pooling (torch.nn.functional.max_pool1d/3d, avg_pool1d/3d).

1-D pooling is 2-D pooling of the height-1 image (N, C, 1, L), as ops/conv1d.py does for
convolution: the same kernels, no loop of its own; indices are positions along L. 3-D
pooling has its own kernels (cpp/src/pool/pool3d*), NCDHW, indices flat in the input
volume (d*H*W + h*W + w), as torch. Arguments follow torch: an int or a 1-tuple (1-D), an
int or a triple (3-D); stride=None means the kernel size; padding at most half the kernel.
An unbatched input ((C, L) or (C, D, H, W)) gives an unbatched output.
"""
from __future__ import annotations

import numpy as np

from .. import _core
from . import pool as _pool2d
from ._args import _items, index
from .conv1d import single

__all__ = ["max_pool1d", "avg_pool1d", "max_pool3d", "max_pool3d_backward", "avg_pool3d", "avg_pool3d_backward"]


def triple(value, name):
    """An int or a triple of ints -> (d, h, w)."""
    if isinstance(value, (tuple, list)):
        items = _items(value, name, "an int or a triple of ints")
        if len(items) != 3:
            raise ValueError(f"{name} must be an int or a triple of ints, got {value!r}")
        return items
    v = index(value, name)
    return v, v, v


def _batched(input, ndim, what):
    """(array with a batch dimension, whether one was added)."""
    x = np.asarray(input)
    if x.ndim == ndim - 1:
        return x[None], True
    if x.ndim != ndim:
        raise ValueError(f"input must be {what} or unbatched (without N), got shape {x.shape}")
    return x, False


# --- 1-D: views of the 2-D kernels ----------------------------------------------------------

def _pool1d_args(kernel_size, stride, padding, dilation=1):
    k = single(kernel_size, "kernel_size")
    s = k if stride is None or stride == () else single(stride, "stride")
    return (1, k), (1, s), (0, single(padding, "padding")), (1, single(dilation, "dilation"))


def _as_image(input):
    """(N, C, L) or (C, L) -> the (N, C, 1, L) view, and the output's unbatched flag."""
    x, squeeze = _batched(input, 3, "(N, C, L)")
    return x[:, :, None, :], squeeze


def _from_image(y4, squeeze):
    y = y4[:, :, 0, :]
    return y[0] if squeeze else y


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """Max pooling along L: (N, C, L) -> (N, C, OL). With return_indices, (out, indices),
    indices int64 positions along L (first maximum; NaN wins), as torch."""
    x4, squeeze = _as_image(input)
    k, s, p, d = _pool1d_args(kernel_size, stride, padding, dilation)
    y, idx = _pool2d.max_pool2d(x4, k, s, p, d, ceil_mode, return_indices=True)
    y, idx = _from_image(y, squeeze), _from_image(idx, squeeze)
    return (y, idx) if return_indices else y


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    """Average pooling along L: (N, C, L) -> (N, C, OL), divisors as torch's avg_pool1d."""
    x4, squeeze = _as_image(input)
    k, s, p, _ = _pool1d_args(kernel_size, stride, padding)
    return _from_image(_pool2d.avg_pool2d(x4, k, s, p, ceil_mode, count_include_pad), squeeze)


# --- 3-D ------------------------------------------------------------------------------------

def _pool3d_args(kernel_size, stride, padding, dilation=1):
    k = triple(kernel_size, "kernel_size")
    s = k if stride is None or stride == () else triple(stride, "stride")
    return k, s, triple(padding, "padding"), triple(dilation, "dilation")


def _size5(value, name):
    items = _items(value, name, "a tuple (N, C, D, H, W)")
    if len(items) == 4:
        items = (1,) + items
    if len(items) != 5:
        raise ValueError(f"{name} must be a tuple (N, C, D, H, W), got {value!r}")
    return items


def max_pool3d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """Max pooling over D, H, W: (N, C, D, H, W) -> (N, C, OD, OH, OW). With return_indices,
    (out, indices): int64 flat positions d*H*W + h*W + w in the input volume (first maximum
    in (d, h, w) order; NaN wins), as torch."""
    x, squeeze = _batched(input, 5, "(N, C, D, H, W)")
    k, s, p, d = _pool3d_args(kernel_size, stride, padding, dilation)
    y, idx = _core.max_pool3d(x, k, s, p, d, bool(ceil_mode), bool(return_indices))
    if squeeze:
        y, idx = y[0], (None if idx is None else idx[0])
    return (y, idx) if return_indices else y


def max_pool3d_backward(grad_output, indices, input_size):
    """Gradient of max_pool3d: grad_output added at `indices` into a zero array of
    input_size (N, C, D, H, W). An index outside its volume is a ValueError."""
    g, squeeze = _batched(grad_output, 5, "(N, C, OD, OH, OW)")
    idx = np.asarray(indices)
    if not np.issubdtype(idx.dtype, np.integer):
        raise TypeError(f"indices must be an integer array, got dtype {idx.dtype}")
    dx = _core.max_pool3d_backward(g, idx[None] if squeeze else idx, _size5(input_size, "input_size"))
    return dx[0] if squeeze else dx


def avg_pool3d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    """Average pooling over D, H, W: (N, C, D, H, W) -> (N, C, OD, OH, OW); each output is the
    window sum over the window size clipped to the padded input (count_include_pad) or over
    the number of real elements in it."""
    x, squeeze = _batched(input, 5, "(N, C, D, H, W)")
    k, s, p, _ = _pool3d_args(kernel_size, stride, padding)
    y = _core.avg_pool3d(x, k, s, p, bool(ceil_mode), bool(count_include_pad))
    return y[0] if squeeze else y


def avg_pool3d_backward(grad_output, input_size, kernel_size, stride=None, padding=0, ceil_mode=False,
                        count_include_pad=True):
    """Gradient of avg_pool3d, with the forward's input_size (N, C, D, H, W) and arguments."""
    g, squeeze = _batched(grad_output, 5, "(N, C, OD, OH, OW)")
    k, s, p, _ = _pool3d_args(kernel_size, stride, padding)
    dx = _core.avg_pool3d_backward(g, _size5(input_size, "input_size"), k, s, p, bool(ceil_mode),
                                   bool(count_include_pad))
    return dx[0] if squeeze else dx


# --- recording versions (autograd) ----------------------------------------------------------
from ..autograd import array_of as _array_of, record as _record  # noqa: E402
from ._registry import grad_rule as _grad_rule  # noqa: E402


@_grad_rule("max_pool1d")
def _max_pool1d_recorded(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
                         return_indices=False):
    x = _array_of(input)
    y, idx = max_pool1d(x, kernel_size, stride, padding, dilation, ceil_mode, return_indices=True)
    x4_shape = _as_image(x)[0].shape
    x_shape = np.shape(x)

    def backward(g):
        g4 = g.reshape(x4_shape[:2] + (1, -1))
        return (_pool2d.max_pool2d_backward(g4, idx.reshape(g4.shape), x4_shape).reshape(x_shape),)

    t = _record(y, (input,), backward, "max_pool1d")
    return (t, idx) if return_indices else t


@_grad_rule("avg_pool1d")
def _avg_pool1d_recorded(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    x = _array_of(input)
    y = avg_pool1d(x, kernel_size, stride, padding, ceil_mode, count_include_pad)
    x4_shape = _as_image(x)[0].shape
    x_shape = np.shape(x)
    k, s, p, _ = _pool1d_args(kernel_size, stride, padding)

    def backward(g):
        g4 = g.reshape(x4_shape[:2] + (1, -1))
        return (_pool2d.avg_pool2d_backward(g4, x4_shape, k, s, p, ceil_mode, count_include_pad).reshape(x_shape),)

    return _record(y, (input,), backward, "avg_pool1d")


@_grad_rule("max_pool3d")
def _max_pool3d_recorded(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
                         return_indices=False):
    x = _array_of(input)
    y, idx = max_pool3d(x, kernel_size, stride, padding, dilation, ceil_mode, return_indices=True)
    shape = np.shape(x)
    t = _record(y, (input,), lambda g: (max_pool3d_backward(g, idx, shape),), "max_pool3d")
    return (t, idx) if return_indices else t


@_grad_rule("avg_pool3d")
def _avg_pool3d_recorded(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    x = _array_of(input)
    y = avg_pool3d(x, kernel_size, stride, padding, ceil_mode, count_include_pad)
    shape = np.shape(x)
    return _record(y, (input,), lambda g: (avg_pool3d_backward(g, shape, kernel_size, stride, padding, ceil_mode,
                                                               count_include_pad),), "avg_pool3d")
