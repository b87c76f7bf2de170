"""Converters for the matrix products: Gemm and MatMul.

A run-time input times a constant 2-D weight becomes nn.Linear (weight (out, in) and bias
as Parameters named as in the file, so the engine's GEMM with its bias/activation
epilogue runs it); on constants alone the product is folded at load; two run-time values,
or a run-time batch of matrices with a constant on its left (W @ x), give ops.matmul
(batched, N-D).
"""
from __future__ import annotations

import numpy as np

from .. import nn, ops
from ..nn._util import as_input, weights_for
from ._registry import converter
from ._values import is_constant, is_graph_value
from .convert_conv import set_param, weighted_layer

__all__ = ["linear_layer", "LinearNd"]


class LinearNd(nn.Linear):
    """nn.Linear over the last dim of an (N, ..., in_features) input (torch's Linear takes
    any leading dims; the library's takes (N, in_features)): same Parameters and names."""

    def output_shape(self, input_shape):
        if len(input_shape) < 1 or input_shape[-1] != self.in_features:
            raise self._shape_error(input_shape, f"expected (..., {self.in_features})")
        return tuple(input_shape[:-1]) + (self.out_features,)

    def forward(self, x):
        x = as_input(x, self)
        return ops.linear(x, *weights_for(x, self.weight, self.bias))


def linear_layer(ctx, x, weight, bias, param_input):
    """nn.Linear with `weight` (out, in) and `bias` (out,) or None applied to graph value
    x of shape (N, ..., in) (LinearNd when there are dims between N and the features). It
    is named after the initializer at `param_input`, else after the node's torch scope."""
    out_features, in_features = weight.shape
    shape = ctx.shape(x)
    if len(shape) < 2 or shape[-1] != in_features:
        ctx.fail(f"input of shape {shape} does not end in the weight's {in_features} input features")
    layer = (nn.Linear if len(shape) == 2 else LinearNd)(in_features, out_features, bias=bias is not None)
    set_param(layer, "weight", weight)
    if bias is not None:
        set_param(layer, "bias", bias)
    return weighted_layer(ctx, layer, x, param_input)


def _gemm_bias(ctx, c, beta, out_features):
    """Gemm's C (times beta) as a Linear bias (out,), when it is one; None otherwise."""
    c = np.asarray(c, np.float32) * np.float32(beta)
    if c.size == 1:
        return np.full(out_features, c.reshape(()), np.float32)
    if c.shape in ((out_features,), (1, out_features)):
        return c.reshape(out_features)
    return None


def _gemm(ctx, c_optional):
    a = ctx.input(0)
    b = ctx.input(1)
    c = ctx.input(2) if ctx.has_input(2) else None
    if c is None and not c_optional:
        ctx.fail(f"input C is required at opset {ctx.opset}")
    alpha, beta = float(ctx.attr("alpha", 1.0)), float(ctx.attr("beta", 1.0))
    trans_a, trans_b = int(ctx.attr("transA", 0)), int(ctx.attr("transB", 0))
    for name, m in (("A", a), ("B", b)):
        if len(ctx.shape(m)) != 2:
            ctx.fail(f"{name} must be 2-D, got shape {ctx.shape(m)}")
    if is_constant(a) and is_constant(b) and (c is None or is_constant(c)):
        out = np.float32(alpha) * ((a.T if trans_a else a) @ (b.T if trans_b else b))
        return (out + np.float32(beta) * c if c is not None else out).astype(np.float32)
    if not is_graph_value(a) or not is_constant(b):
        ctx.fail("only a run-time A times a constant B is supported (B is the layer's weight)")
    if trans_a:
        ctx.fail("transA=1 on a run-time input (the batch would become the features)")
    weight = (b if trans_b else b.T).astype(np.float32) * np.float32(alpha)  # Linear keeps (out, in)
    out_features = weight.shape[0]
    bias = None if c is None or not is_constant(c) else _gemm_bias(ctx, c, beta, out_features)
    y = linear_layer(ctx, a, weight, bias, param_input=1)
    if c is not None and bias is None:  # a C that is not one bias row: added after, broadcasting
        if is_constant(c) and np.ndim(c) == 2 and c.shape[0] != 1:
            ctx.fail(f"C has shape {c.shape}; only a C that broadcasts over the batch is supported")
        addend = c.astype(np.float32) * np.float32(beta) if is_constant(c) else \
            (c if beta == 1.0 else ctx.op("mul", c, np.float32(beta)))
        y = ctx.op("add", y, addend)
    return y


@converter("Gemm", since=1)
def _gemm_v1(ctx):  # a broadcast attribute for C (without it C must be (M, N) -- ours broadcasts anyway)
    return _gemm(ctx, c_optional=False)


@converter("Gemm", since=7)
def _gemm_v7(ctx):  # C always broadcasts (unidirectionally)
    return _gemm(ctx, c_optional=False)


@converter("Gemm", since=11)
def _gemm_v11(ctx):  # C is optional (13: bfloat16 only)
    return _gemm(ctx, c_optional=True)


@converter("MatMul", since=1)
def _matmul(ctx):  # (9, 13: more types only)
    a, b = ctx.input(0), ctx.input(1)
    if is_constant(a) and is_constant(b):
        return np.matmul(a, b).astype(np.float32)
    if is_graph_value(a) and is_constant(b) and b.ndim == 2:
        # x @ W with W (in, out): a Linear without bias (its weight is W transposed)
        return linear_layer(ctx, a, np.ascontiguousarray(b.T), None, param_input=1)
    sa, sb = ctx.shape(a), ctx.shape(b)
    if is_graph_value(a) and is_graph_value(b):
        if len(sa) < 3 or len(sb) < 3 or len(sa) != len(sb):
            ctx.fail(f"a product of run-time values of shapes {sa} and {sb}: both must be batched "
                     "matrices of the same rank")
        return ctx.op("matmul", a, b)
    # a constant that is not a 2-D weight on the right (W @ x, or a batch of constant
    # matrices): numpy's broadcasting matmul, the constant staying a constant of the graph
    graph_rank = len(sa) if is_graph_value(a) else len(sb)
    const_rank = len(sb) if is_graph_value(a) else len(sa)
    if graph_rank < 3 or const_rank < 2 or const_rank > graph_rank:
        ctx.fail(f"a product of shapes {sa} and {sb}: a constant operand must be a matrix (or a batch of "
                 "them) and the run-time one a batch of matrices")
    a = a.astype(np.float32) if is_constant(a) else a
    b = b.astype(np.float32) if is_constant(b) else b
    return ctx.op("matmul", a, b)
