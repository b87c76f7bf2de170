"""Classification losses: cross-entropy of logits and negative log-likelihood.

input / log_probs: (N, classes) float32 (converted if not). target: (N,) integer class
indices in [0, classes); a label out of range, a negative label, a non-integer target or
a target of the wrong length is a ValueError / TypeError naming the problem.
reduction: "mean" (average over N; NaN for an empty batch, as PyTorch), "sum" or
"none" (the (N,) float32 per-sample losses).
"""
from __future__ import annotations

import numpy as np

from .. import _core
from ._args import as_float32

__all__ = ["cross_entropy", "cross_entropy_backward", "nll_loss", "nll_loss_backward"]

_REDUCTIONS = ("mean", "sum", "none")


def _target(target) -> np.ndarray:
    t = np.asarray(target)
    if t.dtype == np.bool_ or not np.issubdtype(t.dtype, np.integer):
        raise TypeError(f"target must hold integer class indices, got dtype {t.dtype}")
    return np.ascontiguousarray(t, dtype=np.int64)


def _reduction(reduction) -> str:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}")
    return reduction


def _reduce(per_row: np.ndarray, reduction: str):
    if reduction == "none":
        return per_row
    total = float(np.sum(per_row, dtype=np.float64))  # float64 accumulation
    if reduction == "sum":
        return total
    return total / per_row.shape[0] if per_row.shape[0] else float("nan")


def _scale(grad, n: int, reduction: str):
    """(scalar scale, per-row scale or None) that multiplies d loss_i / d input."""
    if reduction == "none":
        g = np.asarray(grad, dtype=np.float32)
        if g.ndim == 0:
            return float(g), None
        if g.shape != (n,):
            raise ValueError(f"grad must be a number or shape ({n},) for reduction='none', got shape {g.shape}")
        return 1.0, np.ascontiguousarray(g)
    g = float(grad)
    return (g / n if (reduction == "mean" and n) else g), None


def cross_entropy(input, target, reduction: str = "mean"):
    """Cross-entropy of logits input (N, classes) against labels target (N,).

    loss_i = logsumexp(input_i) - input_i[target_i], computed stably (the row maximum is
    subtracted first). Returns a float for "mean"/"sum" (accumulated in float64), or a
    (N,) float32 array for "none".
    """
    reduction = _reduction(reduction)
    return _reduce(_core.cross_entropy_rows(input, _target(target)), reduction)


def cross_entropy_backward(input, target, reduction: str = "mean", grad=1.0) -> np.ndarray:
    """Gradient of cross_entropy with respect to input: (softmax(input) - onehot(target))
    times grad (and / N for "mean"). grad: the upstream gradient, a number, or for
    reduction "none" also a (N,) array. Returns (N, classes) float32."""
    reduction = _reduction(reduction)
    t = _target(target)
    scale, row_scale = _scale(grad, t.shape[0], reduction)
    return _core.cross_entropy_backward(input, t, scale, row_scale)


def _check_nll(log_probs, target):
    lp = as_float32(log_probs, "log_probs")
    t = _target(target)
    if lp.ndim != 2:
        raise ValueError(f"log_probs must be 2-D (N, classes), got shape {lp.shape}")
    if t.ndim != 1 or t.shape[0] != lp.shape[0]:
        raise ValueError(f"target must have shape ({lp.shape[0]},), got shape {t.shape}")
    bad = np.flatnonzero((t < 0) | (t >= lp.shape[1]))
    if bad.size:
        i = int(bad[0])
        raise ValueError(f"nll_loss: target[{i}] = {int(t[i])} is not a class index in [0, {lp.shape[1]})")
    return lp, t


def nll_loss(log_probs, target, reduction: str = "mean"):
    """Negative log-likelihood: loss_i = -log_probs[i, target_i]; log_probs (N, classes)
    (e.g. from log_softmax), target (N,). Reduced as cross_entropy. (A gather: numpy.)"""
    reduction = _reduction(reduction)
    lp, t = _check_nll(log_probs, target)
    return _reduce(-lp[np.arange(lp.shape[0]), t], reduction)


def nll_loss_backward(log_probs, target, reduction: str = "mean", grad=1.0) -> np.ndarray:
    """Gradient of nll_loss with respect to log_probs: -grad (/ N for "mean") at each
    row's target, 0 elsewhere. Returns (N, classes) float32."""
    reduction = _reduction(reduction)
    lp, t = _check_nll(log_probs, target)
    scale, row_scale = _scale(grad, t.shape[0], reduction)
    g = np.zeros(lp.shape, dtype=np.float32)
    g[np.arange(lp.shape[0]), t] = -(row_scale if row_scale is not None else np.float32(scale))
    return g
