"""max_unpool1d/2d: the partial inverse of max pooling (torch.nn.functional.max_unpool2d),
the "deconvnet" step of Zeiler & Fergus's visualisation: every pooled value goes back to
where its maximum came from (the indices of max_pool2d(..., return_indices=True), flat
positions h*W + w inside each (n, c) plane), and everything else is zero.

The output size per axis is (in - 1) * stride - 2 * padding + kernel_size unless output_size
says otherwise (it must then lie strictly between that minus and plus stride, as torch).
Duplicate indices (overlapping windows) keep the last value written, as torch on the CPU.
"""
from __future__ import annotations

import numpy as np

from ._args import _items, pair
from ._tensor_args import float32
from .conv1d import single

__all__ = ["max_unpool1d", "max_unpool2d"]


def _out_size(in_sizes, kernel, stride, padding, output_size, op):
    default = tuple((i - 1) * s - 2 * p + k for i, k, s, p in zip(in_sizes, kernel, stride, padding))
    if output_size is None:
        sizes = default
    else:
        items = _items(output_size, "output_size", "a tuple of sizes")
        dims = len(in_sizes)
        if len(items) == dims + 2:
            items = items[2:]
        if len(items) != dims:
            raise ValueError(f"{op}: output_size must have {dims} (or {dims + 2}) entries, got {output_size!r}")
        for d, (want, lo, s) in enumerate(zip(items, default, stride)):
            if not lo - s < want < lo + s:
                raise ValueError(f"{op}: output_size {tuple(items)} is invalid: dimension {d} must lie strictly "
                                 f"between {lo - s} and {lo + s} (default {default})")
        sizes = tuple(items)
    if min(sizes) <= 0:
        raise ValueError(f"{op}: the output size {sizes} is not positive (input {tuple(in_sizes)}, kernel {kernel}, "
                         f"stride {stride}, padding {padding})")
    return sizes


def _planes(x, idx, out_sizes, op):
    """(values, indices) as (planes, per-plane) arrays, indices checked against the plane."""
    if idx.shape != x.shape:
        raise ValueError(f"{op}: indices has shape {idx.shape} but input has shape {x.shape}")
    if not np.issubdtype(idx.dtype, np.integer):
        raise TypeError(f"{op}: indices must be an integer array, got dtype {idx.dtype}")
    plane = int(np.prod(out_sizes))
    dims = len(out_sizes)
    lead = int(np.prod(x.shape[:-dims], dtype=np.int64))
    idx2 = idx.reshape(lead, -1).astype(np.int64, copy=False)
    if idx2.size and (idx2.min() < 0 or idx2.max() >= plane):
        bad = idx2[(idx2 < 0) | (idx2 >= plane)][0]
        raise ValueError(f"{op}: index {bad} is outside the output plane of {out_sizes} = {plane} elements")
    return x.reshape(lead, -1), idx2, plane


def _unpool(input, indices, out_sizes, dims, op):
    x = float32(input, op, "input")
    idx = np.asarray(indices)
    values, idx2, plane = _planes(x, idx, out_sizes, op)
    out = np.zeros((values.shape[0], plane), np.float32)
    np.put_along_axis(out, idx2, values, axis=1)
    return out.reshape(x.shape[:-dims] + tuple(out_sizes))


def max_unpool2d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """(N, C, H, W) pooled values and their indices -> (N, C, OH, OW), zeros elsewhere."""
    x = float32(input, "max_unpool2d", "input")
    if x.ndim not in (3, 4):
        raise ValueError(f"max_unpool2d: input must be (N, C, H, W) or (C, H, W), got shape {x.shape}")
    k = pair(kernel_size, "kernel_size")
    s = k if stride is None else pair(stride, "stride")
    sizes = _out_size(x.shape[-2:], k, s, pair(padding, "padding"), output_size, "max_unpool2d")
    return _unpool(x, indices, sizes, 2, "max_unpool2d")


def max_unpool1d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """(N, C, L) pooled values and their positions -> (N, C, OL), zeros elsewhere."""
    x = float32(input, "max_unpool1d", "input")
    if x.ndim not in (2, 3):
        raise ValueError(f"max_unpool1d: input must be (N, C, L) or (C, L), got shape {x.shape}")
    k = single(kernel_size, "kernel_size")
    s = k if stride is None else single(stride, "stride")
    sizes = _out_size(x.shape[-1:], (k,), (s,), (single(padding, "padding"),), output_size, "max_unpool1d")
    return _unpool(x, indices, sizes, 1, "max_unpool1d")


# --- recording versions (autograd) ----------------------------------------------------------
from ..autograd import array_of as _array_of, record as _record  # noqa: E402
from ._registry import grad_rule as _grad_rule  # noqa: E402


def _gather(g, idx, in_shape, dims):
    """Gradient of unpooling: each input's gradient is the output gradient at its index."""
    lead = int(np.prod(in_shape[:-dims], dtype=np.int64))
    g2 = np.ascontiguousarray(g).reshape(lead, -1)
    return np.take_along_axis(g2, idx.reshape(lead, -1).astype(np.int64, copy=False), axis=1).reshape(in_shape)


def _record_unpool(op, forward, dims):
    @_grad_rule(op)
    def recorded(input, indices, kernel_size, stride=None, padding=0, output_size=None):
        x, idx = _array_of(input), np.asarray(_array_of(indices))
        y = forward(x, idx, kernel_size, stride, padding, output_size)
        shape = np.shape(x)
        return _record(y, (input,), lambda g: (_gather(g, idx, shape, dims),), op)

    return recorded


_record_unpool("max_unpool2d", max_unpool2d, 2)
_record_unpool("max_unpool1d", max_unpool1d, 1)
