"""The locally connected layer, lifted back: ONNX has no unshared convolution, so
cnnnative.onnx.export writes nn.LocallyConnected2d as

    Conv(x, one-hot patch kernel, group=C)  -> Reshape(0, C*kH*kW, OH*OW)
    -> Einsum("nqp,pkq->nkp", weight)       -> Reshape(0, K, OH, OW) [-> Add(bias)]

(the grouped Conv copies each patch element to its own channel, in unfold's order). The
importer has no Einsum converter; this pattern turns exactly that chain (every constant
checked, the patch kernel entry by entry) into one cnnnative:LocallyConnected2d node,
converted to nn.LocallyConnected2d with the file's weight and bias as its Parameters.
"""
from __future__ import annotations

import numpy as np
from onnx import helper

from .. import nn
from ._patterns import FUSED_DOMAIN, Match, pattern
from ._registry import converter
from .convert_conv import set_param, weighted_layer


def _attr(node, name, default=None):
    for a in node.attribute:
        if a.name == name:
            return helper.get_attribute_value(a)
    return default


def _onnx_op(node, op_type, n_inputs):
    return (node is not None and node.op_type == op_type and node.domain in ("", "ai.onnx")
            and len(node.input) == n_inputs)


def _patch_conv(conv, index):
    """(kernel, strides, pads (top, bottom, left, right)) when `conv` is the one-hot patch
    Conv of the exporter, else None."""
    if not _onnx_op(conv, "Conv", 2) or _attr(conv, "auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
        return None
    w = index.constant(conv.input[1])
    if w is None or w.ndim != 4 or w.shape[1] != 1 or any(d != 1 for d in _attr(conv, "dilations", [1, 1])):
        return None
    kh, kw = w.shape[2:]
    channels = _attr(conv, "group", 1)
    eye = np.tile(np.eye(kh * kw, dtype=np.float32).reshape(kh * kw, 1, kh, kw), (channels, 1, 1, 1))
    if w.shape != eye.shape or not np.array_equal(w, eye):
        return None
    top, left, bottom, right = _attr(conv, "pads", [0, 0, 0, 0])
    return (kh, kw), tuple(_attr(conv, "strides", [1, 1])), (top, bottom, left, right)


def _target(reshape, index):
    t = index.constant(reshape.input[1]) if _onnx_op(reshape, "Reshape", 2) else None
    return None if t is None or _attr(reshape, "allowzero", 0) else [int(d) for d in np.ravel(t)]


def _local_conv(end, index):
    """(consumed nodes but `end`, x, weight name, geometry, (OH, OW)) for the chain ending
    at the second Reshape `end`, or None."""
    einsum = index.producer_of(end.input[0], "Einsum")
    equation = _attr(einsum, "equation", b"") if _onnx_op(einsum, "Einsum", 2) else b""
    if isinstance(equation, bytes):
        equation = equation.decode("utf-8", "replace")
    if equation.replace(" ", "") != "nqp,pkq->nkp":
        return None
    weight = index.constant(einsum.input[1])
    first = index.producer_of(einsum.input[0], "Reshape")
    conv = index.producer_of(first.input[0], "Conv") if first is not None else None
    geometry = _patch_conv(conv, index)
    flat, out = _target(first, index), _target(end, index)
    if weight is None or weight.ndim != 3 or geometry is None or flat is None or out is None:
        return None
    p, k, q = weight.shape
    if flat != [0, q, p] or len(out) != 4 or out[:2] != [0, k] or out[2] * out[3] != p:
        return None
    return [conv, first, einsum], conv.input[0], einsum.input[1], geometry, out[2:]


def _fused(x, weight, bias, geometry, out_hw, last):
    kernel, strides, pads = geometry
    inputs = [x, weight] + ([bias] if bias else [])
    return helper.make_node("LocallyConnected2d", inputs, list(last.output), name=last.name or None,
                            domain=FUSED_DOMAIN, kernel=list(kernel), strides=list(strides), pads=list(pads),
                            out_hw=list(out_hw))


@pattern
def locally_connected2d_with_bias(node, index):
    if not _onnx_op(node, "Add", 2):
        return None
    for reshaped, bias in (node.input, node.input[::-1]):
        end = index.producer_of(reshaped, "Reshape")
        found = _local_conv(end, index) if end is not None else None
        b = index.constant(bias)
        # the layer's bias is (K, OH, OW); an Add of anything else stays an Add
        if found is not None and b is not None and b.shape == (index.constant(found[2]).shape[1], *found[4]):
            nodes, x, weight, geometry, out_hw = found
            return Match(nodes + [end, node], _fused(x, weight, bias, geometry, out_hw, node))
    return None


@pattern
def locally_connected2d(node, index):
    found = _local_conv(node, index) if _onnx_op(node, "Reshape", 2) else None
    if found is None:
        return None
    readers = index.readers.get(node.output[0], [])
    if len(readers) == 1 and locally_connected2d_with_bias(readers[0], index) is not None:
        return None  # the Add of the bias is lifted with it
    nodes, x, weight, geometry, out_hw = found
    return Match(nodes + [node], _fused(x, weight, None, geometry, out_hw, node))


@converter(f"{FUSED_DOMAIN}:LocallyConnected2d")
def _locally_connected2d(ctx):
    x = ctx.graph_input(0, "x")
    shape = ctx.shape(x)
    weight, bias = ctx.const(1, "weight"), ctx.const(2, "bias") if len(ctx.node.input) > 2 else None
    if len(shape) != 4:
        ctx.fail(f"input of shape {shape}: a locally connected layer takes (N, C, H, W)")
    kernel, strides, pads = ctx.ints("kernel"), ctx.ints("strides"), ctx.ints("pads")
    try:
        layer = nn.LocallyConnected2d(shape[1], weight.shape[1], tuple(shape[2:]), tuple(kernel), tuple(strides),
                                      tuple(pads), bias=bias is not None)
    except ValueError as e:
        ctx.fail(f"not a locally connected layer on input {shape}: {e}")
    if list(layer.weight.shape[:1]) != [int(np.prod(ctx.ints("out_hw")))]:
        ctx.fail(f"weight {weight.shape} does not fit the output size {tuple(ctx.ints('out_hw'))}")
    set_param(layer, "weight", weight)
    if bias is not None:
        set_param(layer, "bias", bias)
    return weighted_layer(ctx, layer, x, 1)
