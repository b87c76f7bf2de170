"""Converters for the structural ops: Shape, Gather, Unsqueeze, Squeeze, Concat, Slice,
Split, Transpose.

Each works on the three kinds of value (see _values.py):
- numpy constants: folded with numpy, integer dtypes kept (shape arithmetic stays int64);
- ShapeTensors: symbolic, entry by entry, so the `Shape -> Gather -> Unsqueeze -> Concat
  -> Reshape` chains of dynamic-batch exports fold at load into a reshape target that
  keeps the batch (a ShapeTensor whose entries are all known becomes a constant again);
- graph values: emitted as `cnnnative.ops` calls (getitem, reshape, cat, split, permute).
  Axis 0 of a graph value is the dynamic batch: an op that would move, cut or merge it
  fails with a message saying so.
"""
from __future__ import annotations

import numpy as np

from ._registry import converter
from ._values import BATCH, ShapeTensor, is_constant, is_graph_value

INT64_MAX = np.iinfo(np.int64).max


# -- helpers shared by the converters of this family ----------------------------------------

def int_vector(ctx, i, what, default=None):
    """Input i as a tuple of ints (a constant known at load, integer dtype)."""
    v = ctx.const(i, what)
    if v is None:
        return default
    if v.dtype.kind not in "iu":
        ctx.fail(f"input {i} ({what}) must be an integer tensor, got {v.dtype}")
    return tuple(int(e) for e in np.ravel(v))


def normalize_axis(ctx, axis, rank, what="axis"):
    """An ONNX axis (negative counts from the end) as 0..rank-1, checked."""
    a = int(axis)
    if not -rank <= a < rank:
        ctx.fail(f"{what} {axis} is out of range for rank {rank}")
    return a + rank if a < 0 else a


def normalize_axes(ctx, axes, rank, what="axes"):
    out = [normalize_axis(ctx, a, rank, what) for a in axes]
    if len(set(out)) != len(out):
        ctx.fail(f"{what} {tuple(axes)} repeats an axis")
    return out


def shape_result(entries, shape):
    """Entries (ints or BATCH) laid out as `shape` (() or (n,)): a constant when every entry
    is known, else a ShapeTensor."""
    entries = list(entries)
    if BATCH not in entries:
        return np.array(entries, dtype=np.int64).reshape(shape)
    if len(shape) > 1:
        raise ValueError(f"a shape computation with the batch size gives a {len(shape)}-D tensor")
    return ShapeTensor(entries, scalar=len(shape) == 0)


def refuse_batch_axis(ctx, x, axis, what):
    if axis == 0:
        ctx.fail(f"{what} along axis 0 of a run-time value {describe(ctx, x)}: axis 0 is the dynamic batch")


def describe(ctx, v):
    return "(" + ", ".join("N" if d is None else str(d) for d in ctx.shape(v)) + ")"


def reshape_sample(ctx, x, sample_shape):
    """Graph value x reshaped to (N, *sample_shape): a view, so Squeeze/Unsqueeze cost nothing."""
    sample_shape = tuple(int(d) for d in sample_shape)
    if sample_shape == tuple(x.shape):
        return x
    return ctx.op("reshape", x, (-1,) + sample_shape)


# -- Shape --------------------------------------------------------------------------------

def _shape(ctx, start=0, end=None):
    x = ctx.input(0)
    if is_graph_value(x):
        entries = [BATCH] + list(x.shape)
    else:
        entries = list(ctx.shape(x))
    rank = len(entries)
    start = max(0, min(rank, start + rank if start < 0 else start))
    end = rank if end is None else max(0, min(rank, end + rank if end < 0 else end))
    picked = entries[start:end]
    return shape_result(picked, (len(picked),))


@converter("Shape", since=1)
def _shape_v1(ctx):
    return _shape(ctx)


@converter("Shape", since=15)
def _shape_v15(ctx):
    return _shape(ctx, int(ctx.attr("start", 0)), None if not ctx.has_attr("end") else int(ctx.attr("end")))


# -- Gather (constant indices) ----------------------------------------------------------

@converter("Gather", since=1)
def _gather(ctx):
    data = ctx.input(0)
    indices = ctx.const(1, "indices")
    if indices.dtype.kind not in "iu":
        ctx.fail(f"indices must be an integer tensor, got {indices.dtype}")
    shape = ctx.shape(data)
    axis = normalize_axis(ctx, ctx.attr("axis", 0), len(shape))
    size = shape[axis]
    idx = indices.astype(np.int64)
    if size is not None:
        if np.any(idx < -size) or np.any(idx >= size):
            ctx.fail(f"indices {indices.ravel().tolist()} are out of range for axis {axis} of size {size}")
        idx = np.where(idx < 0, idx + size, idx)
    if is_constant(data):
        return np.asarray(np.take(data, idx, axis=axis))
    if isinstance(data, ShapeTensor):
        return shape_result([data.entries[i] for i in idx.ravel()], idx.shape)
    refuse_batch_axis(ctx, data, axis, "Gather")
    # one int removes the axis (a view); an index array keeps its place in the result
    pick = int(idx) if idx.ndim == 0 else idx
    return ctx.op("getitem", data, (slice(None),) * axis + (pick,))


# -- Unsqueeze / Squeeze (axes: an attribute before opset 13, an input from 13) -----------------

def _unsqueeze(ctx, axes):
    if axes is None:
        ctx.fail("axes is required")
    x = ctx.input(0)
    shape = ctx.shape(x)
    rank = len(shape) + len(axes)
    axes = normalize_axes(ctx, axes, rank)
    if is_constant(x):
        return np.expand_dims(x, tuple(axes))
    if isinstance(x, ShapeTensor):
        if x.scalar and axes == [0]:
            return ShapeTensor(x.entries)
        ctx.fail(f"Unsqueeze {tuple(axes)} of a shape computed from the batch size {x!r} is not supported")
    if 0 in axes:
        ctx.fail(f"Unsqueeze at axis 0 of a run-time value {describe(ctx, x)} would move the dynamic batch "
                 "out of axis 0")
    out = list(shape)
    for a in sorted(axes):
        out.insert(a, 1)
    return reshape_sample(ctx, x, out[1:])


def _squeeze(ctx, axes):
    x = ctx.input(0)
    shape = ctx.shape(x)
    if axes is None:  # every dim of size 1 (never the dynamic batch of a run-time value)
        axes = [k for k, d in enumerate(shape) if d == 1]
    else:
        axes = normalize_axes(ctx, axes, len(shape))
    for a in axes:
        if shape[a] is not None and shape[a] != 1:
            ctx.fail(f"cannot squeeze axis {a} of size {shape[a]} (input {describe(ctx, x)})")
    if is_constant(x):
        return np.squeeze(x, axis=tuple(axes))
    if isinstance(x, ShapeTensor):
        if not axes:
            return x
        if not x.scalar and axes == [0]:
            return ShapeTensor(x.entries, scalar=True)
        ctx.fail(f"Squeeze {tuple(axes)} of {x!r} is not supported")
    if 0 in axes:
        ctx.fail(f"Squeeze of axis 0 of a run-time value {describe(ctx, x)}: axis 0 is the dynamic batch")
    return reshape_sample(ctx, x, [d for k, d in enumerate(shape) if k not in axes][1:])


@converter("Unsqueeze", since=1)
def _unsqueeze_v1(ctx):
    return _unsqueeze(ctx, ctx.ints("axes"))


@converter("Unsqueeze", since=13)
def _unsqueeze_v13(ctx):
    return _unsqueeze(ctx, int_vector(ctx, 1, "axes"))


@converter("Squeeze", since=1)
def _squeeze_v1(ctx):
    return _squeeze(ctx, ctx.ints("axes"))


@converter("Squeeze", since=13)
def _squeeze_v13(ctx):
    return _squeeze(ctx, int_vector(ctx, 1, "axes"))


# -- Concat -----------------------------------------------------------------------------

@converter("Concat", since=1)
def _concat(ctx):
    values = [ctx.input(i) for i in range(ctx.n_inputs) if ctx.has_input(i)]
    if not values:
        ctx.fail("Concat needs at least one input")
    if ctx.opset >= 4 and not ctx.has_attr("axis"):
        ctx.fail("attribute axis is required")
    rank = len(ctx.shape(values[0]))
    axis = normalize_axis(ctx, ctx.attr("axis", 1), rank)
    if all(is_constant(v) for v in values):
        return np.concatenate(values, axis=axis)
    if not any(is_graph_value(v) for v in values):  # shape arithmetic: 1-D int vectors
        entries = []
        for v in values:
            if isinstance(v, ShapeTensor):
                if v.scalar:
                    ctx.fail(f"cannot concatenate a 0-d value {v!r}")
                entries += v.entries
            elif v.ndim != 1 or v.dtype.kind not in "iu":
                ctx.fail(f"cannot concatenate a {v.dtype} constant of shape {v.shape} with a shape "
                         "computed from the batch size")
            else:
                entries += [int(e) for e in v]
        return shape_result(entries, (len(entries),))
    if not all(is_graph_value(v) for v in values):
        ctx.fail("Concat of run-time values with constants is not supported (a constant has no batch axis)")
    refuse_batch_axis(ctx, values[0], axis, "Concat")
    if len(values) == 1:
        return values[0]
    return ctx.op("cat", values, axis)


# -- Slice ------------------------------------------------------------------------------

def onnx_slice(start, end, step, size):
    """ONNX's Slice rule for one axis (negative starts/ends count from the end, then clamp,
    INT_MAX / INT_MIN ends mean 'to the end') as a Python slice."""
    if start < 0:
        start += size
    if end < 0:
        end += size
    if step > 0:
        start, end = min(max(start, 0), size), min(max(end, 0), size)
    else:
        start, end = min(max(start, 0), size - 1), min(max(end, -1), size - 1)
    return slice(start, None if end < 0 else end, step)


def _slice(ctx, starts, ends, axes, steps):
    x = ctx.input(0)
    shape = ctx.shape(x)
    rank = len(shape)
    if starts is None or ends is None:
        ctx.fail("starts and ends are required")
    if axes is None:
        axes = tuple(range(len(starts)))
    if steps is None:
        steps = (1,) * len(starts)
    if not len(starts) == len(ends) == len(axes) == len(steps):
        ctx.fail(f"starts {starts}, ends {ends}, axes {axes} and steps {steps} must have the same length")
    axes = normalize_axes(ctx, axes, rank)
    if 0 in steps:
        ctx.fail(f"steps {tuple(steps)} contain 0")
    key = [slice(None)] * rank
    for a, s, e, st in zip(axes, starts, ends, steps):
        if shape[a] is None:  # the batch: only the whole of it
            if not (st == 1 and s in (0, -INT64_MAX - 1) and e >= INT64_MAX // 2):
                ctx.fail(f"Slice of axis 0 of a run-time value {describe(ctx, x)} ({s}:{e}:{st}): axis 0 is "
                         "the dynamic batch")
            continue
        key[a] = onnx_slice(s, e, st, shape[a])
    if is_constant(x):
        return x[tuple(key)]
    if isinstance(x, ShapeTensor):
        return shape_result(x.entries[key[0]], (len(x.entries[key[0]]),))
    if all(k == slice(None) for k in key):
        return x
    while key and key[-1] == slice(None):
        key.pop()
    return ctx.op("getitem", x, tuple(key))


@converter("Slice", since=1)
def _slice_v1(ctx):
    return _slice(ctx, ctx.ints("starts"), ctx.ints("ends"), ctx.ints("axes"), None)


@converter("Slice", since=10)
def _slice_v10(ctx):
    return _slice(ctx, int_vector(ctx, 1, "starts"), int_vector(ctx, 2, "ends"), int_vector(ctx, 3, "axes"),
                  int_vector(ctx, 4, "steps"))


# -- Split (sizes: input or attribute before 13, input from 13, or num_outputs from 18) -------

def _split(ctx, sizes, num_outputs=None):
    x = ctx.input(0)
    shape = ctx.shape(x)
    axis = normalize_axis(ctx, ctx.attr("axis", 0), len(shape))
    size = shape[axis]
    if size is None:
        ctx.fail(f"Split along axis 0 of a run-time value {describe(ctx, x)}: axis 0 is the dynamic batch")
    n_out = len(ctx.node.output)
    if sizes is None:
        if num_outputs is not None:  # opset 18: equal pieces, the last one smaller
            if num_outputs != n_out:
                ctx.fail(f"num_outputs={num_outputs} but the node has {n_out} outputs")
            piece = -(-size // num_outputs)
            sizes = [min(piece, size - k * piece) for k in range(num_outputs)]
            if sizes[-1] <= 0:
                ctx.fail(f"cannot split size {size} into {num_outputs} pieces of {piece}")
        else:
            if size % n_out:
                ctx.fail(f"cannot split axis {axis} of size {size} into {n_out} equal pieces")
            sizes = [size // n_out] * n_out
    sizes = [int(s) for s in sizes]
    if len(sizes) != n_out or sum(sizes) != size or min(sizes) < 0:
        ctx.fail(f"split {tuple(sizes)} does not cut axis {axis} of size {size} into {n_out} pieces")
    if isinstance(x, ShapeTensor) or is_constant(x):
        bounds = np.cumsum([0] + sizes)
        if is_constant(x):
            return tuple(np.take(x, np.arange(a, b), axis=axis) for a, b in zip(bounds[:-1], bounds[1:]))
        return tuple(shape_result(x.entries[a:b], (int(b - a),)) for a, b in zip(bounds[:-1], bounds[1:]))
    if n_out == 1:
        return x
    out = ctx.op("split", x, sizes, axis)
    return out if isinstance(out, tuple) else (out,)


@converter("Split", since=1)
def _split_v1(ctx):
    sizes = int_vector(ctx, 1, "split") if ctx.has_input(1) else ctx.ints("split")
    return _split(ctx, sizes)


@converter("Split", since=2)
def _split_v2(ctx):
    return _split(ctx, ctx.ints("split"))


@converter("Split", since=13)
def _split_v13(ctx):
    return _split(ctx, int_vector(ctx, 1, "split"))


@converter("Split", since=18)
def _split_v18(ctx):
    sizes = int_vector(ctx, 1, "split")
    num = ctx.attr("num_outputs")
    if sizes is not None and num is not None:
        ctx.fail("give either the split input or the num_outputs attribute, not both")
    return _split(ctx, sizes, None if num is None else int(num))


# -- Transpose ---------------------------------------------------------------------------

@converter("Transpose", since=1)
def _transpose(ctx):
    x = ctx.input(0)
    rank = len(ctx.shape(x))
    perm = ctx.ints("perm", tuple(range(rank - 1, -1, -1)))
    if sorted(perm) != list(range(rank)):
        ctx.fail(f"perm {perm} is not a permutation of the {rank} axes")
    if is_constant(x):
        return np.transpose(x, perm)
    if isinstance(x, ShapeTensor):
        return x
    if perm[0] != 0:
        ctx.fail(f"perm {perm} moves axis 0 of a run-time value {describe(ctx, x)}: axis 0 is the dynamic "
                 "batch and must stay first")
    if list(perm) == list(range(rank)):
        return x
    return ctx.op("permute", x, perm)
