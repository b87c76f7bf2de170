"""Binary cross-entropy, as torch.nn.functional:

  binary_cross_entropy(p, y, weight)   = -w (y log p + (1 - y) log(1 - p)), each log
      clamped at -100 as torch (so p = 0 or 1 gives a finite loss); p must lie in [0, 1].
      numpy (two logs per element).
  binary_cross_entropy_with_logits(x, y, weight, pos_weight)
      = w ((1 - y) x + (1 + (pos_weight - 1) y) log(1 + exp(-x))), computed without
      overflow for any x; in the core.

weight broadcasts to the input's shape, pos_weight too (typically one entry per class,
the last axis). target has exactly the input's shape. Both give gradients for input and
target (as torch); weight and pos_weight are constants.
"""
from __future__ import annotations

import numpy as np

from .. import _core
from ._args import as_float32
from ..autograd import array_of, record, wants
from ._registry import grad_rule
from .loss_reduce import constant, loss_output, broadcast_to_input, divide, reduce, reduction_arg, same_shape, scaled, upstream

__all__ = ["binary_cross_entropy", "binary_cross_entropy_with_logits"]

_LOG_FLOOR = np.float32(-100.0)  # torch clamps both logs here
_EPSILON = np.float32(1e-12)     # torch's floor on p (1 - p) in the gradient


# -- on probabilities --------------------------------------------------------------------------
def _bce_args(input, target, weight, reduction, op):
    reduction = reduction_arg(reduction)
    p = as_float32(input, f"{op}: input")
    inside = (p >= 0) & (p <= 1)  # NaN is outside too, as torch
    if not inside.all():
        i = np.unravel_index(int(np.flatnonzero(~inside.reshape(-1))[0]), p.shape)
        raise ValueError(f"{op}: input must hold probabilities in [0, 1] (apply sigmoid, or use "
                         f"binary_cross_entropy_with_logits), got input[{', '.join(map(str, i))}] = {p[i]}")
    y = same_shape(p, target, "target", op)
    return p, y, broadcast_to_input(p, weight, "weight", op), reduction


def binary_cross_entropy(input, target, weight=None, reduction: str = "mean"):
    """BCE of probabilities input (in [0, 1]) and targets, logs clamped at -100; reduced."""
    p, y, w, reduction = _bce_args(input, target, weight, reduction, "binary_cross_entropy")
    with np.errstate(divide="ignore"):
        log_p = np.maximum(np.log(p), _LOG_FLOOR)
        log_q = np.maximum(np.log1p(-p), _LOG_FLOOR)
    per = -(y * log_p + (1 - y) * log_q)
    if w is not None:
        per *= w
    return reduce(per.astype(np.float32, copy=False), reduction)


def _bce_grads(input, target, weight, reduction, grad):
    p, y, w, reduction = _bce_args(input, target, weight, reduction, "binary_cross_entropy_backward")
    scale, per = upstream(grad, reduction, p.shape)
    gx = (p - y) / np.maximum((1 - p) * p, _EPSILON)
    with np.errstate(divide="ignore"):
        gt = np.log1p(-p) - np.log(p)  # -logit(p), unclamped as torch
    if w is not None:
        gx, gt = gx * w, gt * w
    return scaled(gx, scale, per), scaled(gt, scale, per)


# -- on logits -----------------------------------------------------------------------------------
def _logit_args(input, target, weight, pos_weight, reduction, op):
    reduction = reduction_arg(reduction)
    x = as_float32(input, f"{op}: input")
    y = same_shape(x, target, "target", op)
    return (x, y, broadcast_to_input(x, weight, "weight", op), broadcast_to_input(x, pos_weight, "pos_weight", op),
            reduction)


def binary_cross_entropy_with_logits(input, target, weight=None, reduction: str = "mean", pos_weight=None):
    """BCE of logits input (sigmoid folded in, stable for any magnitude); pos_weight
    multiplies the positive term. Reduced; in the core (float64 sums)."""
    x, y, w, pw, reduction = _logit_args(input, target, weight, pos_weight, reduction,
                                         "binary_cross_entropy_with_logits")
    out = _core.binary_cross_entropy_with_logits(x, y, w, pw, reduction != "none")
    return divide(out, x.size) if reduction == "mean" else out


def _bce_logits_grads(input, target, weight, pos_weight, reduction, grad, want_target=True):
    x, y, w, pw, reduction = _logit_args(input, target, weight, pos_weight, reduction,
                                         "binary_cross_entropy_with_logits_backward")
    scale, per = upstream(grad, reduction, x.shape)
    gx = _core.binary_cross_entropy_with_logits_backward(x, y, scale, per, w, pw)
    gt = None
    if want_target:
        # d/dy = -x + (pos_weight - 1) log(1 + exp(-x))
        gt = -x if pw is None else -x + (pw - 1) * np.logaddexp(np.float32(0), -x)
        if w is not None:
            gt = gt * w
        gt = scaled(gt, scale, per)
    return gx, gt


# -- recording versions: gradients for input and target ------------------------------------------
@grad_rule("binary_cross_entropy")
def _binary_cross_entropy_recorded(input, target, weight=None, reduction="mean"):
    constant(weight, "weight", "binary_cross_entropy")
    x, y, w = array_of(input), array_of(target), array_of(weight)
    out = loss_output(binary_cross_entropy(x, y, w, reduction))

    def backward(g):
        gx, gt = _bce_grads(x, y, w, reduction, g)
        return (gx if wants(input) else None), (gt if wants(target) else None), None

    return record(out, (input, target, weight), backward, "binary_cross_entropy")


@grad_rule("binary_cross_entropy_with_logits")
def _bce_with_logits_recorded(input, target, weight=None, reduction="mean", pos_weight=None):
    constant(weight, "weight", "binary_cross_entropy_with_logits")
    constant(pos_weight, "pos_weight", "binary_cross_entropy_with_logits")
    x, y, w, pw = array_of(input), array_of(target), array_of(weight), array_of(pos_weight)
    out = loss_output(binary_cross_entropy_with_logits(x, y, w, reduction, pw))

    def backward(g):
        gx, gt = _bce_logits_grads(x, y, w, pw, reduction, g, want_target=wants(target))
        return (gx if wants(input) else None), gt, None, None

    return record(out, (input, target, weight, pos_weight), backward, "binary_cross_entropy_with_logits")
