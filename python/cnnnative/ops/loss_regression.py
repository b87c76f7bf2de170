"""Regression losses on input and target of the same shape, as torch.nn.functional:
mse_loss (in the core), l1_loss, smooth_l1_loss(beta), huber_loss(delta) (numpy: one or
two cheap elementwise passes). With d = input - target:

  mse       d^2                                             grad  2 d
  l1        |d|                                             grad  sign(d)
  smooth_l1 0.5 d^2 / beta if |d| < beta else |d| - 0.5 beta grad  d / beta or sign(d)
  huber     0.5 d^2 if |d| < delta else delta (|d| - 0.5 delta)  grad clip(d, -delta, delta)

The target's gradient is minus the input's. Shapes must match exactly (torch would
broadcast a (N,) target against a (N, 1) input into an (N, N) loss).
reduction: "mean" (over all elements; NaN when empty), "sum" or "none".
"""
from __future__ import annotations

import numpy as np

from .. import _core
from ._args import as_float32
from ..autograd import array_of, record, wants
from ._registry import grad_rule
from .loss_reduce import loss_output, divide, nonnegative, positive, reduce, reduction_arg, same_shape, scaled, upstream

__all__ = ["mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss"]


def _pair(input, target, op):
    x = as_float32(input, f"{op}: input")
    return x, same_shape(x, target, "target", op)


# Each loss: per_element(d, option) and derivative(d, option), float32 arrays of d's shape.
def _l1(d, _):
    return np.abs(d)


def _l1_grad(d, _):
    return np.sign(d)


def _smooth_l1(d, beta):
    a = np.abs(d)
    if beta == 0.0:
        return a
    return np.where(a < beta, np.float32(0.5 / beta) * d * d, a - np.float32(0.5 * beta))


def _smooth_l1_grad(d, beta):
    if beta == 0.0:
        return np.sign(d)
    return np.where(np.abs(d) < beta, d * np.float32(1.0 / beta), np.sign(d))


def _huber(d, delta):
    a = np.abs(d)
    return np.where(a < delta, np.float32(0.5) * d * d, np.float32(delta) * (a - np.float32(0.5 * delta)))


def _huber_grad(d, delta):
    return np.clip(d, np.float32(-delta), np.float32(delta))


_ELEMENTWISE = {"l1_loss": (_l1, _l1_grad), "smooth_l1_loss": (_smooth_l1, _smooth_l1_grad),
                "huber_loss": (_huber, _huber_grad)}


def _forward(op, input, target, reduction, option=None):
    reduction = reduction_arg(reduction)
    x, y = _pair(input, target, op)
    if op == "mse_loss":
        out = _core.mse_loss(x, y, reduction != "none")
        return divide(out, x.size) if reduction == "mean" else out  # the core summed in float64
    per = _ELEMENTWISE[op][0](x - y, option).astype(np.float32, copy=False)
    return reduce(per, reduction)


def _grads(op, input, target, reduction, grad, option=None):
    """(d/d input, d/d target) of grad . loss, float32 arrays of the input's shape."""
    reduction = reduction_arg(reduction)
    x, y = _pair(input, target, f"{op}_backward")
    scale, per = upstream(grad, reduction, x.shape)
    if op == "mse_loss":
        gx = _core.mse_loss_backward(x, y, scale, per)
    else:
        gx = scaled(_ELEMENTWISE[op][1](x - y, option), scale, per)
    return gx, -gx


def mse_loss(input, target, reduction: str = "mean"):
    """Mean squared error (input - target)^2, reduced; in the core (float64 sums)."""
    return _forward("mse_loss", input, target, reduction)


def l1_loss(input, target, reduction: str = "mean"):
    """Mean absolute error |input - target|, reduced."""
    return _forward("l1_loss", input, target, reduction)


def smooth_l1_loss(input, target, reduction: str = "mean", beta: float = 1.0):
    """Smooth L1: quadratic below beta (>= 0; 0 is plain L1), linear above; reduced."""
    return _forward("smooth_l1_loss", input, target, reduction, nonnegative(beta, "beta"))


def huber_loss(input, target, reduction: str = "mean", delta: float = 1.0):
    """Huber: quadratic below delta (> 0), linear (slope delta) above; reduced."""
    return _forward("huber_loss", input, target, reduction, positive(delta, "delta"))


# -- recording versions: gradients for input and target ------------------------------------------
def _recorded(op, input, target, reduction, option=None):
    x, y = array_of(input), array_of(target)
    out = loss_output(_forward(op, x, y, reduction, option))

    def backward(g):
        gx, gt = _grads(op, x, y, reduction, g, option)
        return (gx if wants(input) else None), (gt if wants(target) else None)

    return record(out, (input, target), backward, op)


@grad_rule("mse_loss")
def _mse_loss_recorded(input, target, reduction="mean"):
    return _recorded("mse_loss", input, target, reduction)


@grad_rule("l1_loss")
def _l1_loss_recorded(input, target, reduction="mean"):
    return _recorded("l1_loss", input, target, reduction)


@grad_rule("smooth_l1_loss")
def _smooth_l1_loss_recorded(input, target, reduction="mean", beta=1.0):
    return _recorded("smooth_l1_loss", input, target, reduction, nonnegative(beta, "beta"))


@grad_rule("huber_loss")
def _huber_loss_recorded(input, target, reduction="mean", delta=1.0):
    return _recorded("huber_loss", input, target, reduction, positive(delta, "delta"))
