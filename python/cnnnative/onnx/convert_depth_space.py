"""DepthToSpace and SpaceToDepth as the library's pixel-shuffle layers.

nn.PixelShuffle reads channel c*r*r + i*r + j into pixel (i, j) of output channel c: that
is DepthToSpace's CRD order. DCR order (the default) reads channel (i*r + j)*C + c
instead; a channel shuffle with r*r groups first turns that order into CRD's. Likewise
nn.PixelUnshuffle writes CRD order and SpaceToDepth's DCR (its only order before opset
28, the default after) is what a channel shuffle with C groups makes of it. All of these
are permutations, so the result is exact.
"""
from __future__ import annotations


from .. import nn
from ._registry import converter
from ._values import is_constant
from .convert_shape import describe


def _blocksize(ctx):
    if not ctx.has_attr("blocksize"):
        ctx.fail("attribute blocksize is required")
    r = int(ctx.attr("blocksize"))
    if r <= 0:
        ctx.fail(f"blocksize must be positive, got {r}")
    return r


def _depth_to_space(ctx, mode):
    if mode not in ("DCR", "CRD"):
        ctx.fail(f"mode {mode!r} is not DCR or CRD")
    r = _blocksize(ctx)
    x = ctx.input(0)
    shape = ctx.shape(x)
    if len(shape) != 4 or shape[1] % (r * r):
        ctx.fail(f"input {describe(ctx, x)} must be (N, C, H, W) with C divisible by blocksize**2 = {r * r}")
    if is_constant(x):
        n, c, h, w = x.shape
        if mode == "DCR":
            y = x.reshape(n, r, r, c // (r * r), h, w).transpose(0, 3, 4, 1, 5, 2)
        else:
            y = x.reshape(n, c // (r * r), r, r, h, w).transpose(0, 1, 4, 2, 5, 3)
        return y.reshape(n, c // (r * r), h * r, w * r)
    x = ctx.graph_input(0, "input")
    if mode == "DCR" and r > 1 and shape[1] > r * r:
        x = ctx.layer(nn.ChannelShuffle(r * r), x)
    return ctx.layer(nn.PixelShuffle(r), x)


@converter("DepthToSpace", since=1)
def _depth_to_space_v1(ctx):
    return _depth_to_space(ctx, "DCR")


@converter("DepthToSpace", since=11)
def _depth_to_space_v11(ctx):
    return _depth_to_space(ctx, ctx.attr("mode", "DCR"))


def _space_to_depth(ctx, mode):
    if mode not in ("DCR", "CRD"):
        ctx.fail(f"mode {mode!r} is not DCR or CRD")
    r = _blocksize(ctx)
    x = ctx.input(0)
    shape = ctx.shape(x)
    if len(shape) != 4 or shape[2] % r or shape[3] % r:
        ctx.fail(f"input {describe(ctx, x)} must be (N, C, H, W) with H and W divisible by blocksize {r}")
    if is_constant(x):
        n, c, h, w = x.shape
        perm = (0, 3, 5, 1, 2, 4) if mode == "DCR" else (0, 1, 3, 5, 2, 4)
        y = x.reshape(n, c, h // r, r, w // r, r).transpose(perm)
        return y.reshape(n, c * r * r, h // r, w // r)
    x = ctx.graph_input(0, "input")
    y = ctx.layer(nn.PixelUnshuffle(r), x)
    if mode == "DCR" and r > 1 and shape[1] > 1:
        y = ctx.layer(nn.ChannelShuffle(shape[1]), y)
    return y


@converter("SpaceToDepth", since=1)
def _space_to_depth_v1(ctx):
    return _space_to_depth(ctx, "DCR")


@converter("SpaceToDepth", since=28)  # the mode attribute (DCR, or CRD: pixel_unshuffle's order)
def _space_to_depth_v28(ctx):
    return _space_to_depth(ctx, ctx.attr("mode", "DCR"))
