"""Exporters: activations and softmax. Those ONNX has as one operator map to it; the others
(SiLU, GELU before opset 20, Softplus with beta/threshold, ...) are written as the few
primitive nodes that compute the same formula as our kernels."""
from __future__ import annotations

import math

import numpy as np

from ..ops.activation_more import SELU_ALPHA, SELU_SCALE
from ._export_registry import exporter


def unary(onnx_op, **attrs):
    """One ONNX node on the op's single tensor argument (named x or input)."""
    def write(ctx, node):
        x = ctx.input("x" if "x" in node.args else "input")
        ctx.emit(onnx_op, [x], ctx.out, **attrs)
    return write


for _name, _op in (("relu", "Relu"), ("tanh", "Tanh"), ("sigmoid", "Sigmoid"), ("softsign", "Softsign")):
    exporter(_name)(unary(_op))
exporter("selu")(unary("Selu", alpha=SELU_ALPHA, gamma=SELU_SCALE))
# hardsigmoid = relu6(x + 3) / 6
exporter("hardsigmoid")(unary("HardSigmoid", alpha=1.0 / 6.0, beta=0.5))


def _x(ctx, node):
    return ctx.input("x" if "x" in node.args else "input")


@exporter("relu6")
def relu6(ctx, node):
    ctx.clip(_x(ctx, node), 0.0, 6.0, ctx.out)


@exporter("hardtanh")
def hardtanh(ctx, node):
    a = node.args
    ctx.clip(_x(ctx, node), float(a.get("min_val", -1.0)), float(a.get("max_val", 1.0)), ctx.out)


@exporter("clamp")
def clamp(ctx, node):
    low, high = node.args.get("min"), node.args.get("max")
    for bound in (low, high):
        if bound is not None and not isinstance(bound, (int, float, np.floating, np.integer)):
            ctx.fail("clamp bounds must be numbers to export (tensor bounds are not supported)")
    ctx.clip(_x(ctx, node), None if low is None else float(low), None if high is None else float(high), ctx.out)


@exporter("leaky_relu")
def leaky_relu(ctx, node):
    ctx.emit("LeakyRelu", [_x(ctx, node)], ctx.out, alpha=float(node.args.get("negative_slope", 0.01)))


@exporter("elu")
def elu(ctx, node):
    ctx.emit("Elu", [_x(ctx, node)], ctx.out, alpha=float(node.args.get("alpha", 1.0)))


@exporter("celu")
def celu(ctx, node):
    ctx.emit("Celu", [_x(ctx, node)], ctx.out, alpha=float(node.args.get("alpha", 1.0)))


@exporter("prelu")
def prelu(ctx, node):
    """ONNX broadcasts the slope from the right: a (C,) slope on (N, C, H, W) is stored
    (C, 1, 1) under its state_dict name."""
    weight = node.args["weight"]
    rank = len(ctx.shape_of("input"))
    shape = (weight.size,) + (1,) * max(rank - 2, 0) if weight.size > 1 else (1,)
    ctx.emit("PRelu", [ctx.input("input"), ctx.param_as(weight, shape, "slope")], ctx.out)


@exporter("silu")
def silu(ctx, node):
    x = _x(ctx, node)
    ctx.emit("Mul", [x, ctx.emit("Sigmoid", [x])], ctx.out)


@exporter("hardswish")
def hardswish(ctx, node):
    x = _x(ctx, node)
    if ctx.opset >= 14:
        ctx.emit("HardSwish", [x], ctx.out)
    else:
        ctx.emit("Mul", [x, ctx.emit("HardSigmoid", [x], alpha=1.0 / 6.0, beta=0.5)], ctx.out)


@exporter("gelu")
def gelu(ctx, node):
    x = _x(ctx, node)
    approximate = node.args.get("approximate", "none")
    if approximate not in ("none", "tanh"):
        ctx.fail(f"gelu approximate={approximate!r} (expected 'none' or 'tanh')")
    if ctx.opset >= 20:
        ctx.emit("Gelu", [x], ctx.out, approximate=approximate)
        return
    if approximate == "none":  # x * (1 + erf(x / sqrt 2)) / 2
        inner = ctx.emit("Erf", [ctx.emit("Mul", [x, ctx.scalar(1.0 / math.sqrt(2.0), "rsqrt2")])])
    else:  # x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x^3))) / 2
        cube = ctx.emit("Mul", [ctx.emit("Mul", [x, x]), x])
        poly = ctx.emit("Add", [x, ctx.emit("Mul", [cube, ctx.scalar(0.044715, "c")])])
        inner = ctx.emit("Tanh", [ctx.emit("Mul", [poly, ctx.scalar(math.sqrt(2.0 / math.pi), "k")])])
    one_plus = ctx.emit("Add", [inner, ctx.scalar(1.0, "one")])
    ctx.emit("Mul", [ctx.emit("Mul", [x, one_plus]), ctx.scalar(0.5, "half")], ctx.out)


@exporter("threshold")
def threshold(ctx, node):
    """x where x > threshold, else value."""
    x = ctx.input("input")
    above = ctx.emit("Greater", [x, ctx.scalar(float(node.args["threshold"]), "threshold")])
    ctx.emit("Where", [above, x, ctx.scalar(float(node.args["value"]), "value")], ctx.out)


@exporter("mish")
def mish(ctx, node):
    x = ctx.input("input")
    if ctx.opset >= 18:
        ctx.emit("Mish", [x], ctx.out)
    else:
        ctx.emit("Mul", [x, ctx.emit("Tanh", [ctx.emit("Softplus", [x])])], ctx.out)


@exporter("softplus")
def softplus(ctx, node):
    """log(1 + exp(beta x)) / beta, and x itself where beta x > threshold."""
    x = ctx.input("input")
    beta = float(node.args.get("beta", 1.0))
    scaled = x if beta == 1.0 else ctx.emit("Mul", [x, ctx.scalar(beta, "beta")])
    soft = ctx.emit("Softplus", [scaled])
    if beta != 1.0:
        soft = ctx.emit("Div", [soft, ctx.scalar(beta, "beta")])
    above = ctx.emit("Greater", [scaled, ctx.scalar(float(node.args.get("threshold", 20.0)), "threshold")])
    ctx.emit("Where", [above, x, soft], ctx.out)


@exporter("logsigmoid")
def logsigmoid(ctx, node):
    """log(sigmoid(x)) = -softplus(-x)."""
    x = ctx.input("input")
    ctx.emit("Neg", [ctx.emit("Softplus", [ctx.emit("Neg", [x])])], ctx.out)


def _softmax(onnx_op):
    def write(ctx, node):
        ctx.emit(onnx_op, [ctx.input("x")], ctx.out, axis=int(node.args.get("dim", -1)))
    return write


exporter("softmax")(_softmax("Softmax"))
exporter("log_softmax")(_softmax("LogSoftmax"))
