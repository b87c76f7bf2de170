"""Converters for the reductions: ReduceMean, ReduceSum, ReduceMax, ReduceMin, ReduceL1,
ReduceL2, ReduceSumSquare, ReduceLogSum, ReduceLogSumExp, and ReduceProd (on constants).

The axes to reduce moved from an attribute to an optional second input (ReduceSum at
opset 13, the others at 18), together with `noop_with_empty_axes`: with no axes, all
axes are reduced, unless noop_with_empty_axes=1 makes the node an identity. Each move is
its own converter entry. On a graph value the batch axis (0) cannot be reduced: the
batch stays the first dim of every run-time tensor.
"""
from __future__ import annotations

import numpy as np

from ._registry import converter
from ._values import ShapeTensor, is_constant, is_graph_value


def _lowest(dtype):
    """What ReduceMax gives over an empty set: -inf, or the type's minimum without one."""
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return -np.inf
    return np.iinfo(dtype).min if dtype.kind in "iu" else False


def _highest(dtype):
    """What ReduceMin gives over an empty set: +inf, or the type's maximum without one."""
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return np.inf
    return np.iinfo(dtype).max if dtype.kind in "iu" else True


def _fold_logsumexp(x, axes, keep):
    m = np.max(x, axis=axes, keepdims=True, initial=_lowest(x.dtype))  # -inf over an empty set: log(0)
    m = np.where(np.isfinite(m), m, 0)
    out = np.log(np.sum(np.exp(x - m), axis=axes, keepdims=True)) + m
    return out if keep else np.squeeze(out, axis=axes)


# name -> numpy fold (x, axes tuple, keepdims) -> array
_FOLD = {
    "ReduceMean": lambda x, a, k: np.mean(x, axis=a, keepdims=k),
    "ReduceSum": lambda x, a, k: np.sum(x, axis=a, keepdims=k),
    # (numpy refuses a max or min over an empty set; ONNX gives -inf / +inf there)
    "ReduceMax": lambda x, a, k: np.max(x, axis=a, keepdims=k, initial=_lowest(x.dtype)),
    "ReduceMin": lambda x, a, k: np.min(x, axis=a, keepdims=k, initial=_highest(x.dtype)),
    "ReduceProd": lambda x, a, k: np.prod(x, axis=a, keepdims=k),
    "ReduceL1": lambda x, a, k: np.sum(np.abs(x), axis=a, keepdims=k),
    "ReduceL2": lambda x, a, k: np.sqrt(np.sum(np.square(x), axis=a, keepdims=k)),
    "ReduceSumSquare": lambda x, a, k: np.sum(np.square(x), axis=a, keepdims=k),
    "ReduceLogSum": lambda x, a, k: np.log(np.sum(x, axis=a, keepdims=k)),
    "ReduceLogSumExp": _fold_logsumexp,
}


def _emit(ctx, op_type, x, axes, keep):
    """The reduction of graph value `x` over `axes` (none of them 0) as cnnnative.ops calls."""
    def total(v, keepdim=keep):
        return ctx.op("sum", v, axes, keepdim)
    if op_type == "ReduceMean":
        return ctx.op("mean", x, axes, keep)
    if op_type == "ReduceSum":
        return total(x)
    if op_type == "ReduceMax":
        return ctx.op("amax", x, axes, keep)
    if op_type == "ReduceMin":
        return ctx.op("amin", x, axes, keep)
    if op_type == "ReduceL1":
        return total(ctx.op("abs", x))
    if op_type == "ReduceSumSquare":
        return total(ctx.op("mul", x, x))
    if op_type == "ReduceL2":
        return ctx.op("sqrt", total(ctx.op("mul", x, x)))
    if op_type == "ReduceLogSum":
        return ctx.op("log", total(x))
    if op_type == "ReduceLogSumExp":
        # log(sum(exp(x - m))) + m with m the max, so large inputs do not overflow
        m = ctx.op("amax", x, axes, True)
        out = ctx.op("add", ctx.op("log", total(ctx.op("exp", ctx.op("sub", x, m)), True)), m)
        if keep:
            return out
        kept = [d for k, d in enumerate(ctx.shape(x)) if k not in axes]
        return ctx.op("reshape", out, (-1,) + tuple(kept[1:]))
    ctx.fail(f"{op_type} of a run-time tensor is not supported (only of constants, folded at load)")


def reduce(ctx, axes, noop_with_empty_axes=False):
    op_type = ctx.node.op_type
    x = ctx.input(0)
    if isinstance(x, ShapeTensor):
        x = x.array() if x.known else ctx.fail("reducing a shape that holds the batch size")
    keep = bool(ctx.attr("keepdims", 1))
    rank = len(ctx.shape(x))
    if not axes:
        if noop_with_empty_axes:
            return x
        axes = tuple(range(rank))
    normalised = []
    for a in axes:
        if not -rank <= a < rank:
            ctx.fail(f"axis {a} is out of range for rank {rank}")
        normalised.append(a % rank)
    if len(set(normalised)) != len(normalised):
        ctx.fail(f"axes {tuple(axes)} name an axis twice")
    axes = tuple(sorted(normalised))
    if is_constant(x):
        with np.errstate(all="ignore"):
            out = np.asarray(_FOLD[op_type](x, axes, keep))
        return out.astype(x.dtype, copy=False) if x.dtype.kind == "f" or op_type != "ReduceMean" else out
    if not is_graph_value(x):
        ctx.fail("unsupported input")
    if 0 in axes:
        ctx.fail(f"reducing over axes {axes} includes the batch axis 0 of a run-time tensor; "
                 "only reductions within each sample are supported")
    if op_type == "ReduceMean" and rank == 4 and axes == (2, 3):
        # the global average pool written as x.mean((2, 3)) (torchvision's MNASNet,
        # ShuffleNet-v2): the engine's global_avg_pool node rather than a host reduction
        pooled = ctx.op("global_avg_pool2d", x)
        return pooled if keep else ctx.op("flatten", pooled, 1, -1)
    return _emit(ctx, op_type, x, axes, keep)


def _axes_input(ctx):
    axes = ctx.const(1, "axes")
    return () if axes is None else tuple(int(a) for a in np.ravel(axes))


def _register(op_type, input_since):
    @converter(op_type, since=1)
    def convert_attribute_axes(ctx):
        return reduce(ctx, ctx.ints("axes", ()))

    @converter(op_type, since=input_since)
    def convert_input_axes(ctx):
        if ctx.has_attr("axes"):
            ctx.fail(f"axes is an input from opset {input_since}, not an attribute")
        return reduce(ctx, _axes_input(ctx), bool(ctx.attr("noop_with_empty_axes", 0)))


_register("ReduceSum", 13)
for _op in ("ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2", "ReduceSumSquare",
            "ReduceLogSum", "ReduceLogSumExp"):
    _register(_op, 18)
