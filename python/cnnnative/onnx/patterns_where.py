"""Pattern lifts for the activations exporters write with a run-time comparison, which the
importer cannot convert op by op (a boolean tensor has no place in a float graph, see
convert_compare.py) but can as the one layer they spell:

    Where(Greater(x, t), x, v)                          -> cnnnative:Threshold -> nn.Threshold(t, v)
    Where(Greater(x, t), x, Softplus(x))                -> cnnnative:Softplus  -> nn.Softplus(1, t)
    Where(Greater(x * b, t), x, Softplus(x * b) / b)    -> cnnnative:Softplus  -> nn.Softplus(b, t)
      (x * b in either order; cnnnative.onnx.export writes these forms)

t, v and b must be float scalar constants. As every lift, it applies only when no
intermediate has a reader outside the pattern (_patterns.py).
"""
from __future__ import annotations

import numpy as np
from onnx import helper

from .. import nn
from ._patterns import FUSED_DOMAIN, Match, pattern
from ._registry import converter
from .convert_activation import apply_layer


def _scalar(index, name):
    """The float value of a one-element float constant, else None."""
    c = index.constant(name)
    if c is None or np.size(c) != 1 or np.asarray(c).dtype.kind != "f":
        return None
    return float(np.ravel(c)[0])


def _onnx_op(node, op_type, n_inputs):
    return (node is not None and node.op_type == op_type and node.domain in ("", "ai.onnx")
            and len(node.input) == n_inputs)


def _where_greater(node, index):
    """(where, greater, compared value, threshold) for Where(Greater(a, t), ...), else None."""
    if not _onnx_op(node, "Where", 3):
        return None
    greater = index.producer_of(node.input[0], "Greater")
    if not _onnx_op(greater, "Greater", 2):
        return None
    t = _scalar(index, greater.input[1])
    if t is None:
        return None
    return greater, greater.input[0], t


def _fused(op_type, x, node, **attrs):
    return helper.make_node(op_type, [x], list(node.output), name=node.name or None, domain=FUSED_DOMAIN, **attrs)


@pattern
def threshold(node, index):
    found = _where_greater(node, index)
    if found is None:
        return None
    greater, x, t = found
    value = _scalar(index, node.input[2])
    if node.input[1] != x or value is None:
        return None
    return Match([greater, node], _fused("Threshold", x, node, threshold=t, value=value))


def _scaled_by(name, index):
    """(x, b, the Mul node) when `name` is Mul(x, b) with b a scalar constant, else None."""
    mul = index.producer_of(name, "Mul")
    if not _onnx_op(mul, "Mul", 2):
        return None
    for x, b in (mul.input, mul.input[::-1]):
        beta = _scalar(index, b)
        if beta is not None and index.constant(x) is None:
            return x, beta, mul
    return None


@pattern
def softplus(node, index):
    found = _where_greater(node, index)
    if found is None:
        return None
    greater, compared, t = found
    x, soft_out = node.input[1], node.input[2]
    if compared == x:  # beta 1: Where(Greater(x, t), x, Softplus(x))
        soft = index.producer_of(soft_out, "Softplus")
        if not _onnx_op(soft, "Softplus", 1) or soft.input[0] != x:
            return None
        return Match([soft, greater, node], _fused("Softplus", x, node, beta=1.0, threshold=t))
    scaled = _scaled_by(compared, index)
    div = index.producer_of(soft_out, "Div")
    if scaled is None or scaled[0] != x or not _onnx_op(div, "Div", 2):
        return None
    _, beta, mul = scaled
    if beta <= 0:  # not a Softplus layer's form (its beta is positive)
        return None
    soft = index.producer_of(div.input[0], "Softplus")
    if not _onnx_op(soft, "Softplus", 1) or soft.input[0] != compared or _scalar(index, div.input[1]) != beta:
        return None
    return Match([mul, soft, div, greater, node], _fused("Softplus", x, node, beta=beta, threshold=t))


# -- the fused nodes' converters ------------------------------------------------------------------------


@converter(f"{FUSED_DOMAIN}:Threshold")
def _threshold(ctx):
    return apply_layer(ctx, nn.Threshold(ctx.attr("threshold"), ctx.attr("value")))


@converter(f"{FUSED_DOMAIN}:Softplus")
def _softplus(ctx):
    return apply_layer(ctx, nn.Softplus(ctx.attr("beta"), ctx.attr("threshold")))
