"""Exporters: interpolate (Resize), pixel shuffle/unshuffle, channel shuffle, padding."""
from __future__ import annotations

import numpy as np

from ..ops.resample import _plan
from ._export_registry import exporter


@exporter("interpolate")
def interpolate(ctx, node):
    """Resize with the coordinate rule our kernel (PyTorch's) uses: nearest is 'asymmetric'
    + floor; nearest-exact is 'half_pixel' + round_prefer_ceil (= floor((out + 0.5) * in/out));
    linear is 'align_corners' or 'pytorch_half_pixel'. With scale_factor given (and not
    recomputed) the sampling uses it, so it goes in as `scales`; else the output sizes."""
    a = node.args
    shape = ctx.shape_of("input")
    sample = (1,) + tuple(shape[1:])
    mode = a.get("mode", "nearest")
    if a.get("antialias"):
        ctx.fail("interpolate with antialias=True")
    kernel_mode, align, out, scales = _plan(sample, a.get("size"), a.get("scale_factor"), mode,
                                            a.get("align_corners"), a.get("recompute_scale_factor"))
    if kernel_mode == "nearest":
        attrs = dict(mode="nearest", coordinate_transformation_mode="asymmetric", nearest_mode="floor")
    elif kernel_mode == "nearest-exact":
        attrs = dict(mode="nearest", coordinate_transformation_mode="half_pixel",
                     nearest_mode="round_prefer_ceil")
    else:
        attrs = dict(mode="linear",
                     coordinate_transformation_mode="align_corners" if align else "pytorch_half_pixel")
    x = ctx.input("input")
    if all(s > 0 for s in scales) and not align:
        ctx.emit("Resize", [x, "", ctx.const(np.array([1.0, 1.0] + list(scales), np.float32), "scales")],
                 ctx.out, **attrs)
        return
    # sizes (N, C, *out): the batch from the input's shape, the rest traced constants
    lead = ctx.emit("Slice", [ctx.emit("Shape", [x]), ctx.ints([0], "starts"), ctx.ints([2], "ends")])
    sizes = ctx.emit("Concat", [lead, ctx.ints(out, "out_size")], axis=0)
    ctx.emit("Resize", [x, "", "", sizes], ctx.out, **attrs)


@exporter("pixel_shuffle")
def pixel_shuffle(ctx, node):
    if len(ctx.shape_of("input")) != 4:
        ctx.fail("pixel_shuffle of a non-4-D input")
    ctx.emit("DepthToSpace", [ctx.input("input")], ctx.out, blocksize=int(node.args["upscale_factor"]),
             mode="CRD")


@exporter("pixel_unshuffle")
def pixel_unshuffle(ctx, node):
    """(N, C, H r, W r) -> (N, C r r, H, W), channel c*r*r + i*r + j (ONNX's SpaceToDepth
    orders the channels the other way): reshape, transpose, reshape."""
    shape = ctx.shape_of("input")
    if len(shape) != 4:
        ctx.fail("pixel_unshuffle of a non-4-D input")
    r = int(node.args["downscale_factor"])
    _, c, h, w = shape
    blocks = ctx.reshape(ctx.input("input"), (None, c, h // r, r, w // r, r))
    moved = ctx.emit("Transpose", [blocks], perm=[0, 1, 3, 5, 2, 4])
    ctx.reshape(moved, (None, c * r * r, h // r, w // r), ctx.out)


@exporter("channel_shuffle")
def channel_shuffle(ctx, node):
    """(N, C, *) with channels seen as (groups, C/groups), transposed: reshape, transpose,
    reshape (the form ShuffleNet exports take)."""
    shape = ctx.shape_of("input")
    groups = int(node.args["groups"])
    c, rest = shape[1], tuple(shape[2:])
    grouped = ctx.reshape(ctx.input("input"), (None, groups, c // groups) + rest)
    perm = [0, 2, 1] + list(range(3, 3 + len(rest)))
    ctx.reshape(ctx.emit("Transpose", [grouped], perm=perm), (None, c) + rest, ctx.out)


@exporter("pad")
def pad(ctx, node):
    """torch's pad tuple (last dim first, (before, after) pairs) as ONNX's [begins, ends]
    over every dim. Negative pads (crops) are a Slice first, so every runtime reads the
    Pad. replicate is 'edge'; circular is 'wrap' from opset 19, before it the wrapped
    slices concatenated."""
    a = node.args
    shape = list(ctx.shape_of("input"))
    rank = len(shape)
    items = [int(p) for p in a["pad"]]
    pairs = [(0, 0)] * rank
    for i in range(len(items) // 2):
        pairs[rank - 1 - i] = (items[2 * i], items[2 * i + 1])
    mode = a.get("mode", "constant")
    x = ctx.input("input")
    crops = [(axis, max(-b, 0), max(-e, 0)) for axis, (b, e) in enumerate(pairs) if b < 0 or e < 0]
    if crops:
        x = ctx.emit("Slice", [x, ctx.ints([b for _, b, _ in crops], "starts"),
                               ctx.ints([shape[axis] - e for axis, _, e in crops], "ends"),
                               ctx.ints([axis for axis, _, _ in crops], "axes")])
        for axis, b, e in crops:
            shape[axis] -= b + e
        pairs = [(max(b, 0), max(e, 0)) for b, e in pairs]
    if not any(b or e for b, e in pairs):
        ctx.emit("Identity", [x], ctx.out)
    elif mode == "circular" and ctx.opset < 19:
        _circular(ctx, x, shape, pairs)
    else:
        onnx_mode = {"constant": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}[mode]
        inputs = [x, ctx.ints([b for b, _ in pairs] + [e for _, e in pairs], "pads")]
        value = float(a.get("value", 0.0) or 0.0)
        if mode == "constant" and value != 0.0:
            inputs.append(ctx.scalar(value, "value"))
        ctx.emit("Pad", inputs, ctx.out, mode=onnx_mode)


def _circular(ctx, x, shape, pairs):
    """Each padded dim: Concat(the last `before` entries, x, the first `after` entries)."""
    padded = [(axis, b, e) for axis, (b, e) in enumerate(pairs) if b or e]
    for k, (axis, before, after) in enumerate(padded):
        parts = []
        if before:
            parts.append(ctx.emit("Slice", [x, ctx.ints([-before], "starts"), ctx.ints([shape[axis]], "ends"),
                                            ctx.ints([axis], "axes")]))
        parts.append(x)
        if after:
            parts.append(ctx.emit("Slice", [x, ctx.ints([0], "starts"), ctx.ints([after], "ends"),
                                            ctx.ints([axis], "axes")]))
        x = ctx.emit("Concat", parts, ctx.out if k == len(padded) - 1 else None, axis=axis)
