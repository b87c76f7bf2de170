"""Activation pattern lifts: the subgraphs exporters write for activations ONNX had no
operator for (or that older opsets lacked) become one fused node, then the library's layer:

    x * Sigmoid(x)                          -> cnnnative:SiLU      -> nn.SiLU
    x * HardSigmoid(x, alpha=1/6, beta=1/2) -> cnnnative:Hardswish -> nn.Hardswish
    x * Tanh(Softplus(x))                   -> cnnnative:Mish      -> nn.Mish (Mish is an
                                               ONNX op only from opset 18)
    Clip(x + 3, 0, 6) / 6                   -> cnnnative:Hardsigmoid -> nn.Hardsigmoid
    x * Clip(x + 3, 0, 6) / 6               -> cnnnative:Hardswish (either grouping; / 6
                                               also as * (1/6))
    x * 0.5 * (1 + Erf(x / sqrt(2)))        -> cnnnative:GELU      -> nn.GELU()
      (the product in any grouping and order, x / sqrt(2) also as x * (1/sqrt(2)); torch's
      exporter writes Div -> Erf -> Add 1 -> Mul x -> Mul 0.5)
    x * 0.5 * (1 + Tanh(sqrt(2/pi) * (x + 0.044715 * x^3)))   -> nn.GELU("tanh")
      (x^3 as Pow(x, 3) or x * x * x: torch's exporter writes the latter)

A lift applies only when no intermediate has a reader outside the pattern (see
_patterns.py), so it never changes what the model computes.
"""
from __future__ import annotations

import math

import numpy as np
from onnx import helper

from .. import nn
from ._patterns import FUSED_DOMAIN, Match, pattern
from ._registry import converter
from .convert_activation import apply_layer

_TOLERANCE = 1e-6  # float32 spellings of 1/6, sqrt(2), ... in exported files


def _is_scalar(index, name, value) -> bool:
    c = index.constant(name)
    if c is None or np.size(c) != 1 or np.asarray(c).dtype.kind != "f":
        return False
    return math.isclose(float(np.ravel(c)[0]), value, rel_tol=_TOLERANCE)


def _fused(op_type, x, node, **attrs):
    return helper.make_node(op_type, [x], list(node.output), name=node.name or None, domain=FUSED_DOMAIN, **attrs)


def _other(node, name):
    """The input of a two-input node that is not `name` (None when both are)."""
    a, b = node.input
    return b if a == name else a if b == name else None


# -- x * f(x) -----------------------------------------------------------------------------------


def _gated(node, index, gate_type, gate_ok=lambda g: True, fused=False):
    """(x, gate node) when `node` is Mul(x, gate(x)) in either order, else None; the gate is
    an ONNX op, or with fused=True one of our fused nodes."""
    if node.op_type != "Mul" or node.domain not in ("", "ai.onnx") or len(node.input) != 2:
        return None
    domains = (FUSED_DOMAIN,) if fused else ("", "ai.onnx")
    for gate_out, x in (node.input, node.input[::-1]):
        gate = index.producer_of(gate_out, gate_type)
        if gate is not None and gate.domain in domains and list(gate.input) == [x] and gate_ok(gate):
            return x, gate
    return None


@pattern
def silu(node, index):
    found = _gated(node, index, "Sigmoid")
    if found is None:
        return None
    x, gate = found
    return Match([gate, node], _fused("SiLU", x, node))


def _attribute(node, name, default):
    for a in node.attribute:
        if a.name == name:
            return helper.get_attribute_value(a)
    return default


def _is_hardsigmoid_of_hardswish(gate):
    return (math.isclose(_attribute(gate, "alpha", 0.2), 1 / 6, rel_tol=_TOLERANCE)
            and math.isclose(_attribute(gate, "beta", 0.5), 0.5, rel_tol=_TOLERANCE))


@pattern
def hardswish(node, index):
    found = _gated(node, index, "HardSigmoid", _is_hardsigmoid_of_hardswish)
    if found is None:
        found = _gated(node, index, "Hardsigmoid", fused=True)  # lifted from relu6(x + 3) / 6
    if found is None:
        return None
    x, gate = found
    return Match([gate, node], _fused("Hardswish", x, node))


@pattern
def mish(node, index):
    if node.op_type != "Mul" or node.domain not in ("", "ai.onnx") or len(node.input) != 2:
        return None
    for tanh_out, x in (node.input, node.input[::-1]):
        tanh = index.producer_of(tanh_out, "Tanh")
        if tanh is None or tanh.domain not in ("", "ai.onnx"):
            continue
        soft = index.producer_of(tanh.input[0], "Softplus")
        if soft is not None and soft.domain in ("", "ai.onnx") and list(soft.input) == [x]:
            return Match([soft, tanh, node], _fused("Mish", x, node))
    return None


# -- relu6(x + 3) / 6 and x * relu6(x + 3) / 6, spelled with Clip ------------------------------------


def _clip_bounds(clip, index):
    """(min, max) of a Clip node (attributes before opset 11, constant inputs from 11; None
    for an absent bound), or None when a bound is not a scalar constant."""
    if len(clip.input) == 1:
        return _attribute(clip, "min", None), _attribute(clip, "max", None)
    bounds = []
    for name in (list(clip.input[1:]) + ["", ""])[:2]:
        c = index.constant(name) if name else None
        if name and (c is None or np.size(c) != 1):
            return None
        bounds.append(None if c is None else float(np.ravel(c)[0]))
    return tuple(bounds)


def _relu6_of_x_plus_3(name, index):
    """(x, [add, clip]) when `name` is Clip(x + 3, 0, 6)."""
    clip = index.producer_of(name, "Clip")
    if clip is None or _clip_bounds(clip, index) != (0.0, 6.0):
        return None
    add = index.producer_of(clip.input[0], "Add")
    if add is None or len(add.input) != 2:
        return None
    for three, x in (add.input, add.input[::-1]):
        if _is_scalar(index, three, 3.0):
            return x, [add, clip]
    return None


def _over_6(node, index):
    """y when `node` is y / 6 or y * (1/6) (either order)."""
    if node.domain not in ("", "ai.onnx") or len(node.input) != 2:
        return None
    if node.op_type == "Div" and _is_scalar(index, node.input[1], 6.0):
        return node.input[0]
    if node.op_type == "Mul":
        for c, y in (node.input, node.input[::-1]):
            if _is_scalar(index, c, 1 / 6):
                return y
    return None


@pattern
def hardsigmoid_clip(node, index):
    y = _over_6(node, index)
    found = None if y is None else _relu6_of_x_plus_3(y, index)
    if found is None:
        return None
    return Match(found[1] + [node], _fused("Hardsigmoid", found[0], node))


@pattern
def hardswish_clip(node, index):
    """x * relu6(x + 3) / 6 with the division last (x * (relu6(x + 3) / 6) is first lifted
    to x * Hardsigmoid(x), then by `hardswish`)."""
    y = _over_6(node, index)
    mul = None if y is None else index.producer_of(y, "Mul")
    if mul is None or len(mul.input) != 2:
        return None
    for gate_out, x in (mul.input, mul.input[::-1]):
        found = _relu6_of_x_plus_3(gate_out, index)
        if found is not None and found[0] == x:
            return Match(found[1] + [mul, node], _fused("Hardswish", x, node))
    return None


# -- GELU: x * 0.5 * (1 + erf(x / sqrt(2))) or x * 0.5 * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x^3))) --


def _products(node, index):
    """Every way to read `node` (a Mul) as a product of three factors through at most one
    inner Mul: [(factor names, inner Mul)]."""
    out = []
    a, b = node.input
    for inner_out, rest in ((a, b), (b, a)):
        inner = index.producer_of(inner_out, "Mul")
        if inner is not None and inner is not node and len(inner.input) == 2:
            out.append(([rest, *inner.input], inner))
    return out


def _scaled(name, index, value):
    """(y, the Mul) when `name` is y * value (either order), else None."""
    mul = index.producer_of(name, "Mul")
    if mul is None or len(mul.input) != 2:
        return None
    for c, y in (mul.input, mul.input[::-1]):
        if _is_scalar(index, c, value):
            return y, mul
    return None


def _erf_argument(erf, index):
    """(x, [its node]) when the Erf's input is x / sqrt(2) (Div) or x * (1/sqrt(2)) (Mul)."""
    div = index.producer_of(erf.input[0], "Div")
    if div is not None and len(div.input) == 2 and _is_scalar(index, div.input[1], math.sqrt(2)):
        return div.input[0], [div]
    found = _scaled(erf.input[0], index, 1 / math.sqrt(2))
    return None if found is None else (found[0], [found[1]])


def _cube(name, index):
    """(x, nodes) when `name` is Pow(x, 3), x * (x * x) or (x * x) * x."""
    power = index.producer_of(name, "Pow")
    if power is not None and len(power.input) == 2 and _is_scalar(index, power.input[1], 3.0):
        return power.input[0], [power]
    mul = index.producer_of(name, "Mul")
    if mul is None or len(mul.input) != 2:
        return None
    for square_out, x in (mul.input, mul.input[::-1]):
        square = index.producer_of(square_out, "Mul")
        if square is not None and list(square.input) == [x, x]:
            return x, [square, mul]
    return None


def _tanh_argument(tanh, index):
    """(x, nodes) when the Tanh's input is sqrt(2/pi) * (x + 0.044715 * x^3)."""
    found = _scaled(tanh.input[0], index, math.sqrt(2 / math.pi))
    inner = None if found is None else index.producer_of(found[0], "Add")
    if inner is None or len(inner.input) != 2:
        return None
    for cubic_out, x in (inner.input, inner.input[::-1]):
        cubic = _scaled(cubic_out, index, 0.044715)
        cube = None if cubic is None else _cube(cubic[0], index)
        if cube is not None and cube[0] == x:
            return x, cube[1] + [cubic[1], inner, found[1]]
    return None


_GATES = {"Erf": (_erf_argument, "none"), "Tanh": (_tanh_argument, "tanh")}


def _one_plus_gate(add, index):
    """(x, nodes, approximate) when `add` is 1 + erf(x / sqrt(2)) or 1 + tanh(...), in
    either order."""
    if add is None or len(add.input) != 2:
        return None
    for gate_out, one in (add.input, add.input[::-1]):
        gate = index.producer_of(gate_out)
        if gate is None or gate.op_type not in _GATES or not _is_scalar(index, one, 1.0):
            continue
        argument, approximate = _GATES[gate.op_type]
        found = argument(gate, index)
        if found is not None:
            return found[0], found[1] + [gate, add], approximate
    return None


@pattern
def gelu(node, index):
    if node.op_type != "Mul" or node.domain not in ("", "ai.onnx") or len(node.input) != 2:
        return None
    for factors, inner in _products(node, index):
        half = [f for f in factors if _is_scalar(index, f, 0.5)]
        if len(half) != 1:
            continue
        rest = [f for f in factors if f != half[0]]
        for add_out, x in (rest, rest[::-1]):
            found = _one_plus_gate(index.producer_of(add_out, "Add"), index)
            if found is not None and found[0] == x:
                return Match(found[1] + [inner, node], _fused("GELU", x, node, approximate=found[2]))
    return None


# -- the fused nodes' converters ------------------------------------------------------------------------


@converter(f"{FUSED_DOMAIN}:SiLU")
def _silu(ctx):
    return apply_layer(ctx, nn.SiLU())


@converter(f"{FUSED_DOMAIN}:Hardsigmoid")
def _hardsigmoid(ctx):
    return apply_layer(ctx, nn.Hardsigmoid())


@converter(f"{FUSED_DOMAIN}:Hardswish")
def _hardswish(ctx):
    return apply_layer(ctx, nn.Hardswish())


@converter(f"{FUSED_DOMAIN}:Mish")
def _mish(ctx):
    return apply_layer(ctx, nn.Mish())


@converter(f"{FUSED_DOMAIN}:GELU")
def _gelu(ctx):
    return apply_layer(ctx, nn.GELU(ctx.attr("approximate", "none")))
