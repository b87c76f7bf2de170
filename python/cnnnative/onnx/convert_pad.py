"""Pad: pads and value are attributes before opset 11, inputs from 11 (and an axes input
from 18). ONNX modes map onto `cnnnative.ops.pad` (torch's F.pad): constant -> constant,
reflect -> reflect, edge -> replicate, wrap -> circular. Negative pads crop.

ONNX gives pads as (all befores, all afters) over the padded axes; F.pad wants
(before, after) pairs, last axis first. The batch axis (0) cannot be padded. With the
border modes, negative pads crop before the rest is padded.
"""
from __future__ import annotations

import numpy as np

from ._importer import MAX_TENSOR_ELEMENTS
from ._registry import converter
from ._values import is_constant, is_graph_value
from .convert_shape import describe, int_vector, normalize_axes

_MODES = {"constant": "constant", "reflect": "reflect", "edge": "replicate", "wrap": "circular"}


def _numpy_pad(x, before, after, mode, value):
    crop = tuple(slice(max(-b, 0), x.shape[k] - max(-a, 0)) for k, (b, a) in enumerate(zip(before, after)))
    x = x[crop]
    width = [(max(b, 0), max(a, 0)) for b, a in zip(before, after)]
    if mode == "constant":
        return np.pad(x, width, mode="constant", constant_values=value).astype(x.dtype)
    return np.pad(x, width, mode={"edge": "edge", "reflect": "reflect", "wrap": "wrap"}[mode])


def _pad(ctx, pads, mode, value, axes=None):
    if mode not in _MODES:
        ctx.fail(f"mode {mode!r} is not one of {', '.join(_MODES)}")
    if mode == "wrap" and ctx.opset < 19:
        ctx.fail("mode 'wrap' exists from opset 19")
    x = ctx.input(0)
    shape = ctx.shape(x)
    rank = len(shape)
    axes = list(range(rank)) if axes is None else normalize_axes(ctx, axes, rank)
    if pads is None or len(pads) != 2 * len(axes):
        ctx.fail(f"pads {pads} must hold 2 * {len(axes)} values (the befores, then the afters) for input "
                 f"{describe(ctx, x)}")
    before, after = [0] * rank, [0] * rank
    for k, a in enumerate(axes):
        before[a], after[a] = int(pads[k]), int(pads[k + len(axes)])
    if is_constant(x):
        return _numpy_pad(x, before, after, mode, value)
    if not is_graph_value(x):
        ctx.fail(f"Pad of {x!r} is not supported")
    if before[0] or after[0]:
        ctx.fail(f"pads {tuple(pads)} pad axis 0 of {describe(ctx, x)}: axis 0 is the dynamic batch")
    out = [d + b + a for d, b, a in zip(shape[1:], before[1:], after[1:])]
    if min(out, default=1) < 0 or int(np.prod(out, dtype=object)) > MAX_TENSOR_ELEMENTS:
        ctx.fail(f"pads {tuple(pads)} on {describe(ctx, x)} give per-sample shape {tuple(out)}")
    padded = [k for k in range(rank) if before[k] or after[k]]
    if not padded:
        return x
    if mode != "constant" and any(b < 0 or a < 0 for b, a in zip(before, after)):
        # crop first, then pad what is left (as onnxruntime does: the borders that reflect,
        # repeat or wrap are those of the cropped tensor)
        crop = tuple(slice(max(-b, 0), d - max(-a, 0)) if (b < 0 or a < 0) else slice(None)
                     for b, a, d in zip(before[1:], after[1:], shape[1:]))
        x = ctx.op("getitem", x, (slice(None),) + crop)
        before, after = [max(b, 0) for b in before], [max(a, 0) for a in after]
        padded = [k for k in range(rank) if before[k] or after[k]]
        if not padded:
            return x
    first = padded[0]
    if mode != "constant":
        # ops.pad pads the last 1-3 dims of (N, C, *spatial) or (C, *spatial) in these modes:
        # pad (by 0) from axis 2 at least, so at most two leading dims are left unpadded
        first = min(first, 2)
        if rank - first > 3:
            ctx.fail(f"mode {mode!r} pads at most the last three axes; pads {tuple(pads)} on input "
                     f"{describe(ctx, x)}")
    torch_pads = []
    for k in range(rank - 1, first - 1, -1):
        torch_pads += [before[k], after[k]]
    if mode == "constant":
        return ctx.op("pad", x, tuple(torch_pads), "constant", float(value))
    return ctx.op("pad", x, tuple(torch_pads), _MODES[mode])


def _value(v, ctx):
    if v is None:
        return 0.0
    v = np.asarray(v)
    if v.size != 1:
        ctx.fail(f"constant_value must hold one value, got shape {v.shape}")
    return v.ravel()[0]


@converter("Pad", since=2)
def _pad_v2(ctx):
    return _pad(ctx, ctx.ints("pads"), ctx.attr("mode", "constant"), float(ctx.attr("value", 0.0)))


@converter("Pad", since=11)
def _pad_v11(ctx):
    return _pad(ctx, int_vector(ctx, 1, "pads"), ctx.attr("mode", "constant"),
                _value(ctx.const(2, "constant_value"), ctx))


@converter("Pad", since=18)
def _pad_v18(ctx):
    return _pad(ctx, int_vector(ctx, 1, "pads"), ctx.attr("mode", "constant"),
                _value(ctx.const(2, "constant_value"), ctx), int_vector(ctx, 3, "axes"))
