"""Exporters: the unshared convolutions (locally connected, tiled). ONNX has no such
operator, so they are written from shared-weight ones: patches by a fixed grouped Conv and
one Einsum with the per-position weights; tiled banks as one Conv over all banks whose
outputs a constant one-hot mask picks per position."""
from __future__ import annotations

import numpy as np

from ..ops.local_conv import _geometry
from ._export_registry import exporter
from .export_conv import onnx_pads


def _patch_kernel(channels, kernel):
    """A grouped Conv weight (C*kH*kW, 1, kH, kW) copying each patch element to its own
    channel, in unfold's order (c, i, j)."""
    kh, kw = kernel
    eye = np.eye(kh * kw, dtype=np.float32).reshape(kh * kw, 1, kh, kw)
    return np.tile(eye, (channels, 1, 1, 1))


@exporter("locally_connected2d")
def locally_connected2d(ctx, node):
    """out[n, k, p] = sum_q weight[p, k, q] * patches[n, q, p] (+ bias[k, oh, ow])."""
    a = node.args
    kernel, stride, (top, bottom, left, right) = _geometry(a["kernel_size"], a.get("stride", 1), a.get("padding", 0))
    channels = ctx.shape_of("input")[1]
    _, k, oh, ow = node.output.shape
    patches = ctx.emit("Conv", [ctx.input("input"), ctx.const(_patch_kernel(channels, kernel), "patch_kernel")],
                       kernel_shape=list(kernel), strides=list(stride), pads=onnx_pads([(top, bottom), (left, right)]),
                       group=channels)
    flat = ctx.reshape(patches, (None, channels * kernel[0] * kernel[1], oh * ow))
    y = ctx.emit("Einsum", [flat, ctx.input("weight")], equation="nqp,pkq->nkp")
    has_bias = a.get("bias") is not None
    y = ctx.reshape(y, (None, k, oh, ow), None if has_bias else ctx.out)
    if has_bias:
        ctx.emit("Add", [y, ctx.input("bias")], ctx.out)


@exporter("tiled_conv2d")
def tiled_conv2d(ctx, node):
    """Every bank convolved everywhere (the banks stacked as one Conv's output channels),
    then output (i, j) keeps bank (i mod t_h, j mod t_w): a one-hot mask, summed over banks."""
    a = node.args
    weight = a["weight"]
    banks, k = weight.shape[0], weight.shape[1]
    th, tw = (a["tile_size"], a["tile_size"]) if np.ndim(a["tile_size"]) == 0 else tuple(a["tile_size"])
    _, stride, (top, bottom, left, right) = _geometry(weight.shape[3:], a.get("stride", 1), a.get("padding", 0))
    _, _, oh, ow = node.output.shape
    stacked = ctx.param_as(weight, (banks * k,) + weight.shape[2:], "weight")
    y = ctx.emit("Conv", [ctx.input("input"), stacked], kernel_shape=list(weight.shape[3:]), strides=list(stride),
                 pads=onnx_pads([(top, bottom), (left, right)]))
    y = ctx.reshape(y, (None, banks, k, oh, ow))
    rows, cols = np.arange(oh)[:, None] % th, np.arange(ow)[None, :] % tw
    mask = (np.arange(banks)[:, None, None] == rows * tw + cols).astype(np.float32)[:, None]  # (T, 1, OH, OW)
    has_bias = a.get("bias") is not None
    y = ctx.axes_op("ReduceSum", ctx.emit("Mul", [y, ctx.const(mask, "bank_mask")]), [1],
                    None if has_bias else ctx.out, keepdims=0)
    if has_bias:
        ctx.emit("Add", [y, ctx.param_as(a["bias"], (k, 1, 1), "bias")], ctx.out)
