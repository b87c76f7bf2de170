"""Exporters: reshape, flatten, squeeze/unsqueeze, transpose/permute, cat/stack,
split/chunk and basic indexing (getitem). The batch dim stays dynamic: a reshape target
writes 0 ('the input's first dim') where the batch is."""
from __future__ import annotations

import numbers

import numpy as np

from ._export_registry import exporter

def _batch_first(node):
    """Whether the node keeps the batch as the first dim of its input and output."""
    x = node.inputs[0]
    return x.batched and node.outputs[0].batched


def _as_reshape(ctx, node, fallback=None):
    """Write a batch-preserving shape change as Reshape(0, rest...); otherwise fallback()."""
    if _batch_first(node):
        ctx.reshape(ctx.tensor(node.inputs[0]), node.output.shape, ctx.out)
    elif fallback is not None:
        fallback()
    else:
        ctx.fail(f"a {node.op} that moves the batch dim (output shape {node.output.shape})")


@exporter("reshape")
def reshape(ctx, node):
    _as_reshape(ctx, node)


@exporter("flatten")
def flatten(ctx, node):
    a = node.args
    rank = len(ctx.shape_of("input"))
    start, end = int(a.get("start_dim", 0)) % max(rank, 1), int(a.get("end_dim", -1)) % max(rank, 1)
    if start == 1 and end == rank - 1:
        ctx.emit("Flatten", [ctx.input("input")], ctx.out, axis=1)
    else:
        _as_reshape(ctx, node)


def _dims(dim):
    return None if dim is None else [int(d) for d in (dim if isinstance(dim, (tuple, list)) else (dim,))]


@exporter("squeeze")
def squeeze(ctx, node):
    axes = _dims(node.args.get("dim"))
    if axes is None:  # every size-1 dim, known from the traced shape (never the batch)
        axes = [i for i, d in enumerate(ctx.shape_of("input")) if d == 1]
    else:
        shape = ctx.shape_of("input")
        axes = [a for a in axes if shape[a] == 1]  # torch ignores a named dim that is not 1
    if not axes:
        ctx.emit("Identity", [ctx.input("input")], ctx.out)
    else:
        ctx.axes_op("Squeeze", ctx.input("input"), axes, ctx.out)


@exporter("unsqueeze")
def unsqueeze(ctx, node):
    dim = int(node.args["dim"])
    rank = len(ctx.shape_of("input"))
    ctx.axes_op("Unsqueeze", ctx.input("input"), [dim if dim >= 0 else dim + rank + 1], ctx.out)


@exporter("transpose")
def transpose(ctx, node):
    rank = len(ctx.shape_of("input"))
    perm = list(range(rank))
    d0, d1 = int(node.args["dim0"]) % rank, int(node.args["dim1"]) % rank
    perm[d0], perm[d1] = perm[d1], perm[d0]
    ctx.emit("Transpose", [ctx.input("input")], ctx.out, perm=perm)


@exporter("permute")
def permute(ctx, node):
    rank = len(ctx.shape_of("input"))
    ctx.emit("Transpose", [ctx.input("input")], ctx.out, perm=[int(d) % rank for d in node.args["dims"]])


@exporter("cat")
def cat(ctx, node):
    parts = [ctx.tensor(t, "part") for t in node.args["tensors"]]
    ctx.emit("Concat", parts, ctx.out, axis=int(node.args.get("dim", 0)))


@exporter("stack")
def stack(ctx, node):
    rank = len(node.output.shape)
    dim = int(node.args.get("dim", 0)) % rank
    parts = [ctx.axes_op("Unsqueeze", ctx.tensor(t, "part"), [dim]) for t in node.args["tensors"]]
    ctx.emit("Concat", parts, ctx.out, axis=dim)


def _pieces(ctx, node):
    """Split along the node's dim into the traced pieces (their sizes from the outputs)."""
    rank = len(ctx.shape_of("input"))
    dim = int(node.args.get("dim", 0)) % rank
    sizes = [v.shape[dim] for v in node.outputs]
    if any(s is None for s in sizes):
        ctx.fail("splitting the batch dim")
    outs = [v.name for v in node.outputs]
    ctx.emit("Split", [ctx.input("input"), ctx.ints(sizes, "split")], outs, axis=dim)


exporter("split")(_pieces)
exporter("chunk")(_pieces)


@exporter("getitem")
def getitem(ctx, node):
    """Ints and slices (any step) as one Slice, then a Reshape to the traced output shape
    (drops the int dims, inserts the Nones); the batch dim must be taken whole."""
    shape = ctx.shape_of("input")
    index = node.args["index"]
    items = list(index) if isinstance(index, tuple) else [index]
    if any(not (i is None or i is Ellipsis or isinstance(i, slice)
                or (isinstance(i, numbers.Integral) and not isinstance(i, (bool, np.bool_)))) for i in items):
        ctx.fail("getitem with an array or mask index (only ints, slices, None and ... export)")
    used = sum(1 for i in items if i is not None and i is not Ellipsis)
    if Ellipsis in items:
        at = items.index(Ellipsis)
        items[at:at + 1] = [slice(None)] * (len(shape) - used)
    items += [slice(None)] * (len(shape) - sum(1 for i in items if i is not None))
    starts, ends, axes, steps = [], [], [], []
    axis = 0
    for item in items:
        if item is None:
            continue
        size = shape[axis]
        if size is None:
            if item != slice(None):
                ctx.fail(f"getitem index {item!r} on the batch dim (only ':' keeps the batch dynamic)")
        elif isinstance(item, slice):
            if item != slice(None):
                start, stop, step = item.indices(size)
                if step < 0 and stop < 0:
                    stop = -(size + 1)  # one before the first element, in ONNX's negative-end counting
                starts.append(start), ends.append(stop), axes.append(axis), steps.append(step)
        else:
            i = int(item) % size
            starts.append(i), ends.append(i + 1), axes.append(axis), steps.append(1)
        axis += 1
    x = ctx.input("input")
    if axes:
        x = ctx.emit("Slice", [x, ctx.ints(starts, "starts"), ctx.ints(ends, "ends"),
                               ctx.ints(axes, "axes"), ctx.ints(steps, "steps")])
    out_shape = node.output.shape
    if not (out_shape and out_shape[0] is None and shape[0] is None):
        ctx.fail("getitem that moves the batch dim")
    ctx.reshape(x, out_shape, ctx.out)
