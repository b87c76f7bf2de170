"""Converters for the ops that make tensors of a given shape: ConstantOfShape, Expand,
Tile, Range. Exporters use them in shape logic and for broadcast constants; they fold
at load on constants. Expand and Tile also work on a run-time value when they leave its
batch axis alone."""
from __future__ import annotations

import numpy as np

from ._importer import MAX_TENSOR_ELEMENTS
from ._registry import converter
from ._values import BATCH, ShapeTensor, is_constant, is_graph_value
from .convert_shape import describe


def _check_size(ctx, shape):
    """An absurd shape is an error, not a multi-GB allocation."""
    n = 1
    for d in shape:
        n *= max(int(d), 0)
    if n > MAX_TENSOR_ELEMENTS:
        ctx.fail(f"the result would have shape {tuple(shape)}: more than {MAX_TENSOR_ELEMENTS} elements")


def _known_shape(ctx, i, what):
    """Input i as a tuple of ints known at load; a shape that depends on the batch fails."""
    v = ctx.input(i)
    if isinstance(v, ShapeTensor) and not v.known:
        ctx.fail(f"input {i} ({what}) is {v!r}, which depends on the batch size; a constant of a "
                 "batch-dependent shape is not supported")
    v = ctx.const(i, what)
    if v.dtype.kind not in "iu":
        ctx.fail(f"input {i} ({what}) must be an integer tensor, got {v.dtype}")
    if v.ndim != 1:
        ctx.fail(f"input {i} ({what}) must be 1-D, got shape {v.shape}")
    return tuple(int(d) for d in v)


@converter("ConstantOfShape", since=9)
def _constant_of_shape(ctx):
    shape = _known_shape(ctx, 0, "shape")
    if any(d < 0 for d in shape):
        ctx.fail(f"shape {shape} has a negative dim")
    _check_size(ctx, shape)
    value = ctx.attr("value")
    value = np.zeros(1, np.float32) if value is None else np.asarray(value)
    if value.size != 1:
        ctx.fail(f"value must hold one element, got shape {value.shape}")
    return np.full(shape, value.ravel()[0], dtype=value.dtype)


@converter("Expand", since=8)
def _expand(ctx):
    x = ctx.input(0)
    target = ctx.input(1)
    if is_graph_value(target):
        ctx.fail("the target shape is computed from run-time data")
    if not isinstance(target, ShapeTensor):
        target = ShapeTensor(ctx.const(1, "shape").astype(np.int64).ravel())
    entries = list(target.entries)
    if is_constant(x):
        if not target.known:
            ctx.fail(f"expanding a constant to {target!r}, a shape that depends on the batch size, "
                     "is not supported")
        try:
            out = np.broadcast_shapes(x.shape, tuple(entries))
        except ValueError:
            ctx.fail(f"cannot broadcast shape {x.shape} to {tuple(entries)}")
        _check_size(ctx, out)
        return np.broadcast_to(x, out).copy()
    if not is_graph_value(x):
        ctx.fail(f"Expand of {x!r} is not supported")
    shape = ctx.shape(x)
    if len(entries) > len(shape):
        ctx.fail(f"target {tuple(entries)} has more dims than the run-time value {describe(ctx, x)}: the new "
                 "leading dims would move the dynamic batch out of axis 0")
    entries = [1] * (len(shape) - len(entries)) + entries
    if entries[0] not in (BATCH, 1):
        ctx.fail(f"target {tuple(entries)} changes axis 0 of {describe(ctx, x)}: axis 0 is the dynamic batch")
    if BATCH in entries[1:]:
        ctx.fail(f"target {tuple(entries)} uses the batch size in a non-batch dim")
    try:
        sample = np.broadcast_shapes(tuple(shape[1:]), tuple(entries[1:]))
    except ValueError:
        ctx.fail(f"cannot broadcast {describe(ctx, x)} to {tuple(entries)}")
    if sample == tuple(shape[1:]):
        return x
    _check_size(ctx, sample)
    # x * 1 broadcast to the target: exact (keeps -0.0 and NaN), and its gradient sums over
    # the broadcast dims, as Expand's does
    return ctx.op("mul", x, np.ones((1,) + sample, np.float32))


@converter("Tile", since=6)
def _tile(ctx):
    x = ctx.input(0)
    repeats = ctx.const(1, "repeats")
    if repeats.dtype.kind not in "iu" or repeats.ndim != 1:
        ctx.fail(f"repeats must be a 1-D integer tensor, got {repeats.dtype} of shape {repeats.shape}")
    shape = ctx.shape(x)
    if len(repeats) != len(shape) or np.any(repeats < 0):
        ctx.fail(f"repeats {repeats.tolist()} must be {len(shape)} non-negative ints for input {describe(ctx, x)}")
    if is_constant(x):
        _check_size(ctx, np.array(x.shape) * repeats)
        return np.tile(x, tuple(int(r) for r in repeats))
    if not is_graph_value(x):
        ctx.fail(f"Tile of {x!r} is not supported")
    if repeats[0] != 1:
        ctx.fail(f"repeats {repeats.tolist()} repeat axis 0 of {describe(ctx, x)}: axis 0 is the dynamic batch")
    _check_size(ctx, np.array(shape[1:]) * repeats[1:])
    if np.any(repeats == 0):
        ctx.fail(f"repeats {repeats.tolist()} would make an empty tensor")
    # tiling an axis r times is joining r copies along it (its gradient sums the copies)
    for axis, r in enumerate(repeats):
        if r > 1:
            x = ctx.op("cat", [x] * int(r), axis)
    return x


@converter("Range", since=11)
def _range(ctx):
    start, limit, delta = (ctx.const(i, name) for i, name in enumerate(("start", "limit", "delta")))
    if any(np.ndim(v) != 0 for v in (start, limit, delta)):
        ctx.fail("start, limit and delta must be scalars")
    if delta == 0:
        ctx.fail("delta must not be 0")
    # ONNX: max(ceil((limit - start) / delta), 0) elements start + k * delta, in start's type
    n = max(int(np.ceil((float(limit) - float(start)) / float(delta))), 0)
    _check_size(ctx, (n,))
    return (start + np.arange(n, dtype=start.dtype) * delta).astype(start.dtype)
