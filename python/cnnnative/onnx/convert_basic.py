"""Converters for glue ops: Identity, Constant, Dropout, Flatten, Reshape, Relu (Add and the
other arithmetic are in convert_math)."""
from __future__ import annotations

import numpy as np

from .. import nn
from ._registry import converter
from ._values import BATCH, ShapeTensor, is_constant, is_graph_value


@converter("Identity")
def _identity(ctx):
    return ctx.input(0)


@converter("Constant")
def _constant(ctx):
    for key in ("value", "value_float", "value_floats", "value_int", "value_ints"):
        if ctx.has_attr(key):
            v = ctx.attr(key)
            if key == "value":
                return np.asarray(v)
            return np.asarray(v, dtype=np.float32 if "float" in key else np.int64)
    ctx.fail("Constant without a supported value attribute (value, value_float(s), value_int(s))")


@converter("Dropout")
def _dropout(ctx):
    x = ctx.input(0)
    ratio = float(ctx.attr("ratio", 0.5)) if ctx.opset < 12 else float(ctx.const(1, "ratio", np.float32(0.5)))
    if not 0.0 <= ratio < 1.0:
        ctx.fail(f"ratio must be in [0, 1), got {ratio}")
    if not is_graph_value(x):
        return x
    y = ctx.layer(nn.Dropout(ratio), x)
    if len(ctx.node.output) > 1 and ctx.node.output[1]:
        ctx.fail("the Dropout mask output is not supported")
    return y


@converter("Relu")
def _relu(ctx):
    x = ctx.input(0)
    return np.maximum(x, 0) if is_constant(x) else ctx.layer(nn.ReLU(), x)


@converter("Flatten")
def _flatten(ctx):
    x = ctx.input(0)
    axis = int(ctx.attr("axis", 1))
    rank = len(ctx.shape(x))
    if axis < 0:
        axis += rank
    if not 0 <= axis <= rank:
        ctx.fail(f"axis {ctx.attr('axis')} is out of range for rank {rank}")
    if is_constant(x):
        lead = int(np.prod(x.shape[:axis], dtype=np.int64))
        return x.reshape(lead, -1)
    if axis != 1:
        ctx.fail(f"Flatten with axis={axis} mixes the batch with other dims; only axis=1 is supported "
                 "on run-time values")
    return ctx.op("flatten", x, 1, -1)


def reshape_target(ctx, x, shape, allowzero=False, full=None):
    """The per-sample reshape of graph value `x` to ONNX target `shape` (ints, BATCH).
    `full`: x's full shape (None first) when x is not emitted yet (a fused node's step)."""
    entries = list(shape.entries) if isinstance(shape, ShapeTensor) else [int(d) for d in shape]
    full = ctx.shape(x) if full is None else tuple(full)
    sample = full[1:]
    for k, d in enumerate(entries):
        if d == 0 and not allowzero and d is not BATCH:
            entries[k] = BATCH if k == 0 else full[k]
    if entries and entries[0] is not BATCH and ctx.importer.static_batch is not None \
            and entries[0] == ctx.importer.static_batch:
        entries[0] = BATCH  # a static-batch export: its batch size stands for the batch
    if not entries or entries[0] is not BATCH:
        if entries and entries[0] == -1 and BATCH not in entries[1:]:
            entries[0] = BATCH  # (-1, ...): whatever is left over is the batch
        else:
            ctx.fail(f"reshape target {tuple(shape.entries if isinstance(shape, ShapeTensor) else shape)} "
                     f"does not keep the batch as its first dim (input {tuple('N' if d is None else d for d in full)})")
    rest = entries[1:]
    if BATCH in rest:
        ctx.fail(f"reshape target {entries} uses the batch size in a non-batch dim")
    n = int(np.prod(sample, dtype=np.int64))
    if rest.count(-1) > 1:
        ctx.fail(f"reshape target {entries} has more than one -1")
    if -1 in rest:
        known = int(np.prod([d for d in rest if d != -1], dtype=np.int64))
        if known <= 0 or n % known:
            ctx.fail(f"cannot reshape a sample of {sample} to {entries}")
        rest[rest.index(-1)] = n // known
    if int(np.prod(rest, dtype=np.int64)) != n or any(d < 0 for d in rest):
        ctx.fail(f"cannot reshape a sample of {sample} ({n} values) to {entries}")
    return tuple(rest)


@converter("Reshape", since=5)
def _reshape(ctx):
    x = ctx.input(0)
    shape = ctx.input(1)
    allowzero = bool(ctx.attr("allowzero", 0))
    if is_graph_value(shape):
        ctx.fail("the target shape is computed from run-time data")
    if is_constant(x):
        target = shape.array() if isinstance(shape, ShapeTensor) else np.asarray(shape, dtype=np.int64)
        if not allowzero:
            target = np.where(target == 0, np.array(x.shape + (0,) * len(target))[:len(target)], target)
        return x.reshape(tuple(int(d) for d in target))
    rest = reshape_target(ctx, x, shape if isinstance(shape, ShapeTensor) else np.asarray(shape).ravel(), allowzero)
    return ctx.op("reshape", x, (-1,) + rest)


@converter("Reshape", since=1)
def _reshape_v1(ctx):
    x = ctx.input(0)
    shape = ctx.ints("shape")
    if is_constant(x):
        return x.reshape(shape)
    return ctx.op("reshape", x, (-1,) + reshape_target(ctx, x, shape))

