"""Pattern lifts for the layers with weights, and the converters of their fused nodes.

- MatMul(x, W) + Add(b), W a constant (in, out) and b a constant (out,): cnnnative:Linear,
  one nn.Linear with bias (what torch exports for a Linear on a 3-D input), so the GEMM's
  bias epilogue applies.
- The squeeze-and-excitation block GlobalAveragePool -> Conv(1x1) -> Relu | SiLU ->
  Conv(1x1) -> Sigmoid | HardSigmoid(1/6, 1/2) -> Mul(x): cnnnative:SqueezeExcitation,
  emitted as the layers of nn.SqueezeExcitation (each conv keeps its own initializer names)
  with the gate applied by ops.channel_scale, which the compiled engine runs in place.
"""
from __future__ import annotations

import numpy as np

from .. import nn
from ._patterns import FUSED_DOMAIN, Match, pattern
from ._registry import converter
from .convert_conv import set_param, weighted_layer
from .convert_linear import linear_layer


def _make(op_type, inputs, outputs, name, **attrs):
    from onnx import helper
    return helper.make_node(op_type, inputs, outputs, name=name, domain=FUSED_DOMAIN, **attrs)


def _attr(node, name, default=None):
    from onnx import helper
    for a in node.attribute:
        if a.name == name:
            return helper.get_attribute_value(a)
    return default


def _other_input(node, name):
    """The input of a two-input node that is not `name` (None if `name` is not one of them)."""
    if len(node.input) != 2 or name not in node.input:
        return None
    return node.input[1] if node.input[0] == name else node.input[0]


# -- MatMul + Add -> Linear ------------------------------------------------------------------
@pattern
def _matmul_add(node, index):
    if node.op_type != "Add" or node.domain not in ("", "ai.onnx") or len(node.input) != 2:
        return None
    for k in (0, 1):
        mm = index.producer_of(node.input[k], "MatMul")
        bias_name = node.input[1 - k]
        if mm is None or mm.domain not in ("", "ai.onnx"):
            continue
        w, b = index.constant(mm.input[1]), index.constant(bias_name)
        if w is None or b is None or index.constant(mm.input[0]) is not None:
            continue
        if w.ndim != 2 or np.ndim(b) != 1 or b.shape[0] != w.shape[1]:
            continue
        return Match([mm, node], _make("Linear", [mm.input[0], mm.input[1], bias_name], list(node.output),
                                       node.name or mm.name))
    return None


@converter(f"{FUSED_DOMAIN}:Linear")
def _fused_linear(ctx):
    x = ctx.graph_input(0, "x")
    w = ctx.const(1, "W")
    b = ctx.const(2, "bias")
    # name the layer after whichever initializer carries a module path ('fc.bias' when the
    # exporter folded the weight's transpose into an anonymous constant)
    named = 1 if ctx.importer.param_prefix(ctx.input_name(1)) else 2
    return linear_layer(ctx, x, np.ascontiguousarray(w.T), b, param_input=named)


# -- squeeze-and-excitation ------------------------------------------------------------------
def _pointwise_conv(node, index):
    """(weight name, bias name or '') of a 1x1, stride-1, unpadded, ungrouped Conv whose
    weight is a constant; None for anything else."""
    if node is None or node.op_type != "Conv" or node.domain not in ("", "ai.onnx"):
        return None
    w = index.constant(node.input[1]) if len(node.input) > 1 else None
    if w is None or w.ndim != 4 or w.shape[2:] != (1, 1):
        return None
    if any(v != 1 for v in (_attr(node, "strides") or [1])) or any(_attr(node, "pads") or [0]) \
            or int(_attr(node, "group", 1)) != 1 or _attr(node, "auto_pad", b"NOTSET") not in (b"NOTSET", b"VALID"):
        return None
    bias = node.input[2] if len(node.input) > 2 else ""
    if bias and index.constant(bias) is None:
        return None
    return node.input[1], bias


def _activation(name, index):
    """(the activation's kind, its nodes, its input) for the value `name`: Relu, cnnnative
    SiLU, or x * Sigmoid(x); None otherwise."""
    node = index.producer.get(name)
    if node is None:
        return None
    if node.op_type == "Relu" and node.domain in ("", "ai.onnx"):
        return "Relu", [node], node.input[0]
    if node.op_type.lower() in ("silu", "swish") and node.domain == FUSED_DOMAIN:  # lifted already
        return "SiLU", [node], node.input[0]
    if node.op_type == "Mul" and node.domain in ("", "ai.onnx") and len(node.input) == 2:
        for k in (0, 1):
            sig = index.producer_of(node.input[k], "Sigmoid")
            if sig is not None and sig.input[0] == node.input[1 - k]:
                return "SiLU", [sig, node], sig.input[0]
    return None


def _gate(name, index):
    """(the gate's kind, its node) for the value `name`: Sigmoid or torch's Hardsigmoid."""
    node = index.producer.get(name)
    if node is None or node.domain not in ("", "ai.onnx"):
        return None
    if node.op_type == "Sigmoid":
        return "Sigmoid", node
    if node.op_type == "HardSigmoid" and abs(_attr(node, "alpha", 0.2) - 1 / 6) < 1e-6 \
            and abs(_attr(node, "beta", 0.5) - 0.5) < 1e-6:
        return "Hardsigmoid", node
    return None


@pattern
def _squeeze_excitation(node, index):
    if node.op_type != "Mul" or node.domain not in ("", "ai.onnx") or len(node.input) != 2:
        return None
    for k in (0, 1):
        x, scale = node.input[1 - k], node.input[k]
        gate = _gate(scale, index)
        if gate is None:
            continue
        fc2 = index.producer_of(gate[1].input[0], "Conv")
        conv2 = _pointwise_conv(fc2, index)
        act = _activation(fc2.input[0], index) if conv2 else None
        fc1 = index.producer_of(act[2], "Conv") if act else None
        conv1 = _pointwise_conv(fc1, index)
        pool = index.producer_of(fc1.input[0], "GlobalAveragePool") if conv1 else None
        if pool is None or pool.input[0] != x:
            continue
        consumed = [pool, fc1, *act[1], fc2, gate[1], node]
        inputs = [x, conv1[0], conv1[1], conv2[0], conv2[1]]
        return Match(consumed, _make("SqueezeExcitation", inputs, list(node.output), node.name or fc1.name,
                                     activation=act[0], gate=gate[0]))
    return None


@converter(f"{FUSED_DOMAIN}:SqueezeExcitation")
def _fused_squeeze_excitation(ctx):
    x = ctx.graph_input(0, "x")
    shape = ctx.shape(x)
    if len(shape) != 4:
        ctx.fail(f"input of shape {shape}: the squeeze-excitation block takes (N, C, H, W)")
    s = ctx.op("global_avg_pool2d", x)
    for w_input in (1, 3):
        w, b = ctx.const(w_input, "weight"), ctx.const(w_input + 1, "bias")
        c_in = ctx.shape(s)[1]
        if w.shape[1] != c_in or (b is not None and b.shape != (w.shape[0],)):
            ctx.fail(f"1x1 conv weight {w.shape} / bias {None if b is None else b.shape} do not fit "
                     f"{c_in} input channels")
        conv = nn.Conv2d(c_in, w.shape[0], 1, bias=b is not None)
        set_param(conv, "weight", w)
        if b is not None:
            set_param(conv, "bias", b)
        s = weighted_layer(ctx, conv, s, w_input)
        if w_input == 1:
            s = ctx.layer(nn.ReLU() if ctx.attr("activation") == "Relu" else nn.SiLU(), s)
    if ctx.shape(s)[1] != shape[1]:
        ctx.fail(f"the excitation gives {ctx.shape(s)[1]} channels for an input of {shape[1]}")
    s = ctx.layer(nn.Sigmoid() if ctx.attr("gate") == "Sigmoid" else nn.Hardsigmoid(), s)
    return ctx.op("channel_scale", x, s)
