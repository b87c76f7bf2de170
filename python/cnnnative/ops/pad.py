"""Padding, as torch.nn.functional.pad: constant, reflect, replicate and circular.

`pad` is a flat tuple of (before, after) pairs, last dimension first: (left, right) pads the
last dimension, (left, right, top, bottom) the last two, and so on. Negative pads crop.
Constant padding takes any number of dimensions; reflect, replicate and circular pad the
last 1, 2 or 3 dimensions of a batched (N, C, *spatial) or unbatched (C, *spatial) input,
as torch. The C++ kernel (cpp/src/pad) pads the last three dimensions of a
(planes, D, H, W) array; this module reshapes every case to that form.
"""
from __future__ import annotations

import numpy as np

from .. import _core
from ._args import _items, as_float32, finite

__all__ = ["pad", "pad_backward"]

MODES = ("constant", "reflect", "replicate", "circular")


def _pairs(pad, shape, mode):
    """Checks the arguments as torch does; returns the pads as [(before, after), ...] for
    the last dimensions, last dimension first."""
    if mode not in MODES:
        raise ValueError(f"pad: mode must be one of {', '.join(map(repr, MODES))}, got {mode!r}")
    items = _items(pad, "pad", "a tuple of ints (left, right[, top, bottom[, front, back]])")
    ndim = len(shape)
    if len(items) % 2:
        raise ValueError(f"pad: the pad tuple must hold (before, after) pairs, got odd length "
                         f"{len(items)}: {tuple(items)}")
    dims = len(items) // 2
    if dims > ndim:
        raise ValueError(f"pad: pad {tuple(items)} pads {dims} dimensions but the input has shape "
                         f"{tuple(shape)} ({ndim} dimensions)")
    if mode != "constant" and not (1 <= dims <= 3 and ndim in (dims + 1, dims + 2)):
        raise ValueError(f"pad: {mode} padding pads the last 1, 2 or 3 dimensions of a batched "
                         f"(N, C, *spatial) or unbatched (C, *spatial) input; got pad of length "
                         f"{len(items)} for an input of shape {tuple(shape)}")
    pairs = [(items[2 * i], items[2 * i + 1]) for i in range(dims)]
    for i, (before, after) in enumerate(pairs):
        dim = ndim - 1 - i
        size = shape[dim]
        out = size + before + after
        where = f"dimension {dim} (size {size}) of input shape {tuple(shape)}"
        if mode == "reflect" and (before >= size or after >= size):
            raise ValueError(f"pad: reflect padding ({before}, {after}) must be less than the size "
                             f"{size} of {where}")
        if mode == "circular":
            kept = size - max(-before, 0) - max(-after, 0)
            if before > kept or after > kept:
                raise ValueError(f"pad: circular padding ({before}, {after}) must not exceed the size "
                                 f"{kept} (after cropping) of {where}: it would wrap around more than once")
        if mode == "replicate" and size == 0:
            raise ValueError(f"pad: replicate padding needs a non-empty {where}")
        least = 1 if mode in ("reflect", "replicate") else 0
        if out < least:
            raise ValueError(f"pad: padding ({before}, {after}) of {where} gives output size {out}")
    out_shape = _out_shape(shape, pairs)
    if int(np.prod(out_shape, dtype=object)) * 4 > 2 ** 63 - 1:
        raise OverflowError(f"pad: the padded size of {out_shape} float32 elements overflows int64 bytes")
    return pairs


def _kernel_form(shape, pairs):
    """The (planes, D, H, W) shape and the kernel's 6 pads for padding the last
    len(pairs) <= 3 dimensions of `shape`."""
    dims = len(pairs)
    spatial = (1,) * (3 - dims) + tuple(shape[len(shape) - dims:])
    planes = int(np.prod(shape[:len(shape) - dims], dtype=np.int64))
    flat = [p for pair in pairs for p in pair] + [0] * (6 - 2 * dims)
    return (planes,) + spatial, tuple(flat)


def _out_shape(shape, pairs):
    out = list(shape)
    for i, (before, after) in enumerate(pairs):
        out[len(shape) - 1 - i] += before + after
    return tuple(out)


def _slices(shape, pairs):
    """(input slices, output slices): the region constant padding copies, for any number
    of padded dimensions (the numpy path beyond three)."""
    src, dst = [slice(None)] * len(shape), [slice(None)] * len(shape)
    for i, (before, after) in enumerate(pairs):
        dim = len(shape) - 1 - i
        src[dim] = slice(max(-before, 0), shape[dim] - max(-after, 0))
        dst[dim] = slice(max(before, 0), max(before, 0) + max(src[dim].stop - src[dim].start, 0))
    return tuple(src), tuple(dst)


def pad(input, pad, mode="constant", value=0.0):
    """torch.nn.functional.pad. input: any float array; pad: (left, right[, top, bottom[,
    front, back, ...]]) for the last dimensions (negative crops); mode: 'constant' (fills
    with `value`), 'reflect' (mirrors, pads < size), 'replicate' (repeats the edge) or
    'circular' (wraps around). Returns a new float32 array."""
    x = as_float32(input, "input")
    pairs = _pairs(pad, x.shape, mode)
    value = float(value) if mode == "constant" else _no_value(value, mode)
    return _padded(x, pairs, mode, value)


def _padded(x, pairs, mode, value):
    if len(pairs) > 3:  # constant padding of more than three dimensions: numpy
        out = np.full(_out_shape(x.shape, pairs), value, dtype=np.float32)
        src, dst = _slices(x.shape, pairs)
        out[dst] = x[src]
        return out
    shape4, pads = _kernel_form(x.shape, pairs)
    return _core.pad(x.reshape(shape4), pads, mode, value).reshape(_out_shape(x.shape, pairs))


def _no_value(value, mode):
    if value is not None and finite(value, "value") != 0.0:
        raise ValueError(f"pad: mode {mode!r} takes no value (only 'constant' fills), got value={value!r}")
    return 0.0


def pad_backward(grad_output, input_shape, pad, mode="constant"):
    """Gradient of pad with respect to its input: grad_output (the padded shape) -> the
    input's shape; reflect and replicate add the border gradients into the elements the
    borders copied, circular into the wrapped ones; cropped elements get zero."""
    g = as_float32(grad_output, "grad_output")
    shape = tuple(_items(input_shape, "input_shape", "a tuple of ints"))
    pairs = _pairs(pad, shape, mode)
    if g.shape != _out_shape(shape, pairs):
        raise ValueError(f"pad_backward: grad_output has shape {g.shape}, expected "
                         f"{_out_shape(shape, pairs)} for input shape {shape} and pad {tuple(pad)}")
    if len(pairs) > 3:
        gx = np.zeros(shape, dtype=np.float32)
        src, dst = _slices(shape, pairs)
        gx[src] = g[dst]
        return gx
    shape4, pads = _kernel_form(shape, pairs)
    return _core.pad_backward(g.reshape(_out_shape(shape4, [pads[0:2], pads[2:4], pads[4:6]])),
                              shape4, pads, mode).reshape(shape)


# --- recording version (autograd) -----------------------------------------------------------
from ..autograd import array_of as _array_of, record as _record, wants as _wants  # noqa: E402
from ._registry import grad_rule as _grad_rule  # noqa: E402


@_grad_rule("pad")
def _pad_recorded(input, pad, mode="constant", value=0.0):
    x = as_float32(_array_of(input), "input")
    pairs = _pairs(pad, x.shape, mode)
    y = _padded(x, pairs, mode, float(value) if mode == "constant" else _no_value(value, mode))
    x_shape, pads = x.shape, tuple(p for pair in pairs for p in pair)

    def backward(g):
        return (pad_backward(g, x_shape, pads, mode) if _wants(input) else None,)

    return _record(y, (input,), backward, "pad")
