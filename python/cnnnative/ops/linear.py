"""Fully connected layer on the core's SGEMM, with PyTorch's weight layout (out, in)."""
from __future__ import annotations

import numpy as np

from .. import _core

__all__ = ["linear", "linear_backward"]


def _rows(a, name: str) -> np.ndarray:
    a = np.asarray(a)
    if a.ndim == 0:
        raise ValueError(f"{name} must have at least 1 dimension, got a scalar")
    return a.reshape(-1, a.shape[-1]) if a.ndim != 2 else a


def linear(input, weight, bias=None) -> np.ndarray:
    """input (*, in) @ weight(out, in)^T + bias(out,) -> (*, out) float32.

    Leading dimensions of input are flattened for the product and restored afterwards
    (a 1-D input (in,) gives (out,)), as torch.nn.functional.linear.
    """
    x = np.asarray(input)
    lead = x.shape[:-1]
    y = _core.linear(_rows(x, "input"), weight, bias)
    return y.reshape(lead + (y.shape[1],)) if x.ndim != 2 else y


def linear_backward(grad_output, input, weight, need_bias: bool = True):
    """Gradients of linear: returns (grad_input (*, in), grad_weight (out, in),
    grad_bias (out,) or None when need_bias is False).

    grad_output (*, out) and input (*, in) share their leading dimensions.
    """
    x = np.asarray(input)
    g = np.asarray(grad_output)
    if g.shape[:-1] != x.shape[:-1]:
        raise ValueError(f"linear_backward: grad_output has shape {g.shape} but input has shape "
                         f"{x.shape}; their leading dimensions must match")
    gx, gw, gb = _core.linear_backward(_rows(g, "grad_output"), _rows(x, "input"), weight,
                                       bool(need_bias))
    return (gx.reshape(x.shape) if x.ndim != 2 else gx), gw, gb


# --- recording version (autograd) -----------------------------------------------------------
from ..autograd import array_of as _array_of, record as _record, wants as _wants  # noqa: E402
from ._registry import grad_rule as _grad_rule  # noqa: E402


@_grad_rule("linear")
def _linear_recorded(input, weight, bias=None):
    x, w = _array_of(input), _array_of(weight)
    y = linear(x, w, _array_of(bias))

    def backward(g):
        # One core call gives all three (the input gradient is cheap beside the weight's).
        gx, gw, gb = linear_backward(g, x, w, need_bias=_wants(bias))
        return (gx if _wants(input) else None), (gw if _wants(weight) else None), gb

    return _record(y, (input, weight, bias), backward, "linear")
