"""ShuffleNet's channel shuffle, lifted: Reshape(N, g, C/g, *S) -> Transpose(0, 2, 1, ...)
-> Reshape(N, C, *S) becomes one nn.ChannelShuffle(g) layer (one engine kernel instead of
two reshapes and a strided copy). The same three ops with the 6-D perms of a pixel
(un)shuffle -- Reshape(N, C, H/r, r, W/r, r) -> Transpose(0, 1, 3, 5, 2, 4) ->
Reshape(N, C r r, H/r, W/r), as exporters write it where SpaceToDepth's order is not
CRD's, and Reshape(N, C, r, r, H, W) -> Transpose(0, 1, 4, 2, 5, 3) -> Reshape(N, C, H r,
W r) -- become nn.PixelUnshuffle(r) / nn.PixelShuffle(r).

Design: a pattern sees ONNX nodes before anything is converted, and in dynamic-batch
exports the two Reshape targets are not constants but `Shape -> Gather -> Unsqueeze ->
Concat` chains, folded only during conversion. So the pattern matches on structure alone
(Reshape -> Transpose with perm (0, 2, 1, 3, ...) -> Reshape) and keeps both targets as
inputs of the fused node; its converter sees them folded (ShapeTensors with the batch
first) and checks the sizes. When they are not a channel shuffle (some other
reshape-transpose-reshape), it emits the three ops unchanged, so lifting never changes
what the model computes.
"""
from __future__ import annotations

import numpy as np

from .. import nn
from ._patterns import FUSED_DOMAIN, Match, pattern
from ._registry import converter
from ._values import ShapeTensor, is_graph_value
from .convert_basic import reshape_target


def _perm(node):
    for a in node.attribute:
        if a.name == "perm":
            return list(a.ints)
    return None


def _plain_reshape(node):
    """A Reshape with a target input (opset >= 5) and allowzero unset."""
    return (node is not None and node.op_type == "Reshape" and node.domain in ("", "ai.onnx")
            and len(node.input) == 2 and all(a.name != "allowzero" or a.i == 0 for a in node.attribute))


PIXEL_UNSHUFFLE_PERM = [0, 1, 3, 5, 2, 4]
PIXEL_SHUFFLE_PERM = [0, 1, 4, 2, 5, 3]


def _reshape_transpose_reshape(node, index, fused_op, wanted_perm):
    """The Match replacing Reshape -> Transpose(perm) -> Reshape (ending at `node`) by the
    fused node `fused_op`(x, first target, second target), when wanted_perm(perm)."""
    if not _plain_reshape(node):
        return None
    transpose = index.producer_of(node.input[0], "Transpose")
    if transpose is None:
        return None
    perm = _perm(transpose)
    if perm is None or not wanted_perm(perm):
        return None
    first = index.producer_of(transpose.input[0])
    if not _plain_reshape(first):
        return None
    from onnx import helper
    fused = helper.make_node(fused_op, [first.input[0], first.input[1], node.input[1]], list(node.output),
                             name=node.name or first.name, domain=FUSED_DOMAIN, perm=perm)
    return Match([first, transpose, node], fused)


@pattern
def channel_shuffle(node, index):
    return _reshape_transpose_reshape(node, index, "ChannelShuffle",
                                      lambda perm: len(perm) >= 4 and perm == [0, 2, 1] + list(range(3, len(perm))))


@pattern
def pixel_shuffle(node, index):
    return _reshape_transpose_reshape(node, index, "PixelShuffle",
                                      lambda perm: perm in (PIXEL_UNSHUFFLE_PERM, PIXEL_SHUFFLE_PERM))


def _fold_constant(ctx, x, split_target, merged_target, perm):
    def resolve(a, target):
        t = target.array() if isinstance(target, ShapeTensor) else np.asarray(target, np.int64).ravel()
        t = [a.shape[k] if d == 0 else int(d) for k, d in enumerate(t)]
        return a.reshape(t)
    return resolve(np.transpose(resolve(x, split_target), perm), merged_target)


def _targets(ctx):
    """(x, per-sample split shape, perm, per-sample merged shape) of a fused node; or x
    folded with numpy when it is a constant."""
    x = ctx.input(0)
    split_target, merged_target = ctx.input(1), ctx.input(2)
    perm = list(ctx.ints("perm"))
    if is_graph_value(split_target) or is_graph_value(merged_target):
        ctx.fail("a reshape target is computed from run-time data")
    if not is_graph_value(x):
        return _fold_constant(ctx, x, split_target, merged_target, perm), None, None, None
    split = reshape_target(ctx, x, split_target)
    if len(split) + 1 != len(perm):
        ctx.fail(f"Transpose perm {tuple(perm)} does not fit the reshape to {split}")
    swapped = (None,) + tuple(split[p - 1] for p in perm[1:])
    merged = reshape_target(ctx, x, merged_target, full=swapped)
    return x, split, perm, merged


def _three_ops(ctx, x, split, perm, merged):
    """The reshape, transpose and reshape as they are (when the sizes are not the layer's)."""
    y = ctx.op("reshape", x, (-1,) + split)
    y = ctx.op("permute", y, perm)
    return ctx.op("reshape", y, (-1,) + merged)


@converter(f"{FUSED_DOMAIN}:ChannelShuffle")
def _channel_shuffle(ctx):
    x, split, perm, merged = _targets(ctx)
    if split is None:
        return x
    full = ctx.shape(x)
    channels, spatial = full[1], tuple(full[2:])
    if len(full) >= 3 and merged == tuple(full[1:]) and len(split) == len(full) \
            and split[0] * split[1] == channels and tuple(split[2:]) == spatial:
        return ctx.layer(nn.ChannelShuffle(split[0]), x)
    return _three_ops(ctx, x, split, perm, merged)


@converter(f"{FUSED_DOMAIN}:PixelShuffle")
def _pixel_shuffle(ctx):
    x, split, perm, merged = _targets(ctx)
    if split is None:
        return x
    full = ctx.shape(x)
    if len(full) == 4:
        c, h, w = full[1:]
        if perm == PIXEL_UNSHUFFLE_PERM:
            r = split[2]
            if r > 0 and split == (c, h // r, r, w // r, r) and merged == (c * r * r, h // r, w // r):
                return ctx.layer(nn.PixelUnshuffle(r), x)
        else:
            r = split[1]
            if r > 0 and split == (c // (r * r), r, r, h, w) and merged == (c // (r * r), h * r, w * r):
                return ctx.layer(nn.PixelShuffle(r), x)
    return _three_ops(ctx, x, split, perm, merged)
