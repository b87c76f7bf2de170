"""Activation pattern lifts: the subgraphs exporters write for activations ONNX had no
operator for (or that older opsets lacked) become one fused node, then the library's layer:

    x * Sigmoid(x)                          -> cnnnative:SiLU      -> nn.SiLU
    x * HardSigmoid(x, alpha=1/6, beta=1/2) -> cnnnative:Hardswish -> nn.Hardswish
    x * 0.5 * (1 + Erf(x / sqrt(2)))        -> cnnnative:GELU      -> nn.GELU()
      (the product in any grouping and order, x / sqrt(2) also as x * (1/sqrt(2)); torch's
      exporter writes Div -> Erf -> Add 1 -> Mul x -> Mul 0.5)

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


def _gated(node, index, gate_type, gate_ok=lambda g: True):
    """(x, gate node) when `node` is Mul(x, gate(x)) in either order, else None."""
    if node.op_type != "Mul" or node.domain not in ("", "ai.onnx") or len(node.input) != 2:
        return None
    for gate_out, x in (node.input, node.input[::-1]):
        gate = index.producer_of(gate_out, gate_type)
        if gate is not None and gate.domain in ("", "ai.onnx") and list(gate.input) == [x] and gate_ok(gate):
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
        return None
    x, gate = found
    return Match([gate, node], _fused("Hardswish", x, node))


# -- the exact GELU: x * 0.5 * (1 + erf(x / sqrt(2))) -------------------------------------------------


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


def _erf_argument_x(erf, index):
    """x when the Erf's input is x / sqrt(2) (Div) or x * (1/sqrt(2)) (Mul), with its node."""
    scale = index.producer_of(erf.input[0])
    if scale is None or len(scale.input) != 2:
        return None
    if scale.op_type == "Div" and _is_scalar(index, scale.input[1], math.sqrt(2)):
        return scale.input[0], scale
    if scale.op_type == "Mul":
        for c, x in (scale.input, scale.input[::-1]):
            if _is_scalar(index, c, 1 / math.sqrt(2)):
                return x, scale
    return None


def _one_plus_erf(add, index):
    """(x, [scale, erf]) when `add` is 1 + erf(x / sqrt(2)) in either order."""
    if add is None or len(add.input) != 2:
        return None
    for erf_out, one in (add.input, add.input[::-1]):
        erf = index.producer_of(erf_out, "Erf")
        if erf is not None and _is_scalar(index, one, 1.0):
            found = _erf_argument_x(erf, index)
            if found is not None:
                return found[0], [found[1], erf]
    return None


@pattern
def gelu_erf(node, index):
    if node.op_type != "Mul" or node.domain not in ("", "ai.onnx") or len(node.input) != 2:
        return None
    for factors, inner in _products(node, index):
        half = [f for f in factors if _is_scalar(index, f, 0.5)]
        if len(half) != 1:
            continue
        rest = [f for f in factors if f != half[0]]
        for add_out, x in (rest, rest[::-1]):
            found = _one_plus_erf(index.producer_of(add_out, "Add"), index)
            if found is not None and found[0] == x:
                scale, erf = found[1]
                add = index.producer_of(add_out)
                return Match([scale, erf, add, inner, node], _fused("GELU", x, node, approximate="none"))
    return None


# -- the fused nodes' converters ------------------------------------------------------------------------


@converter(f"{FUSED_DOMAIN}:SiLU")
def _silu(ctx):
    return apply_layer(ctx, nn.SiLU())


@converter(f"{FUSED_DOMAIN}:Hardswish")
def _hardswish(ctx):
    return apply_layer(ctx, nn.Hardswish())


@converter(f"{FUSED_DOMAIN}:GELU")
def _gelu(ctx):
    return apply_layer(ctx, nn.GELU(ctx.attr("approximate", "none")))
