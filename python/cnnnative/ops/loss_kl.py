"""Kullback-Leibler divergence, as torch.nn.functional.kl_div: input holds
log-probabilities, target probabilities (or log-probabilities with log_target=True):

  log_target=False: target (log target - input), 0 where target == 0
  log_target=True:  exp(target) (target - input)

reduction "batchmean" (sum / batch size: the true KL divergence per sample), "sum",
"mean" (over all elements, as torch) or "none". Gradients for input and target. numpy.
"""
from __future__ import annotations

import numpy as np

from ._args import as_float32
from ..autograd import array_of, record, wants
from ._registry import grad_rule
from .loss_reduce import loss_output, reduce, reduction_arg, same_shape, scaled, upstream

__all__ = ["kl_div"]

_REDUCTIONS = ("mean", "batchmean", "sum", "none")


def _args(input, target, reduction, op):
    reduction = reduction_arg(reduction, _REDUCTIONS)
    x = as_float32(input, f"{op}: input")
    t = same_shape(x, target, "target", op)
    # batchmean divides by the batch size (input.size(0)); a scalar input is its own batch.
    denominator = x.shape[0] if (reduction == "batchmean" and x.ndim) else None
    return x, t, ("mean" if reduction == "batchmean" else reduction), denominator


def kl_div(input, target, reduction: str = "mean", log_target: bool = False):
    """KL divergence pointwise terms, reduced (see the module docstring)."""
    x, t, reduction, denominator = _args(input, target, reduction, "kl_div")
    if log_target:
        per = np.exp(t) * (t - x)
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            per = np.where(t == 0, np.float32(0), t * np.log(t)) - t * x
    return reduce(per.astype(np.float32, copy=False), reduction, denominator)


def _kl_div_grads(input, target, reduction, log_target, grad):
    x, t, reduction, denominator = _args(input, target, reduction, "kl_div_backward")
    scale, per = upstream(grad, reduction, x.shape, denominator)
    if log_target:
        e = np.exp(t)
        gx, gt = -e, e * (t + 1 - x)
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            gx, gt = -t, np.where(t == 0, np.float32(0), np.log(t) + 1 - x)
    return scaled(gx, scale, per), scaled(gt, scale, per)


# -- recording version: gradients for input and target ---------------------------------------------
@grad_rule("kl_div")
def _kl_div_recorded(input, target, reduction="mean", log_target=False):
    x, t = array_of(input), array_of(target)
    out = loss_output(kl_div(x, t, reduction, log_target))

    def backward(g):
        gx, gt = _kl_div_grads(x, t, reduction, log_target, g)
        return (gx if wants(input) else None), (gt if wants(target) else None)

    return record(out, (input, target), backward, "kl_div")
