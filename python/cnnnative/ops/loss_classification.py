"""Classification losses: cross_entropy (of logits) and nll_loss (of log-probabilities),
with PyTorch's arguments and semantics.

Layouts (as torch): input (N, C), (N, C, d1, ...) or unbatched (C,); target either class
indices of shape (N,), (N, d1, ...) or () (integer dtype), or, for cross_entropy only,
class probabilities with the input's own shape (floating dtype).
- weight (C,): class weights; a sample's loss is multiplied by weight[target].
- ignore_index: samples labelled with it contribute 0 and are left out of the mean.
- label_smoothing eps in [0, 1]: the target becomes (1 - eps) onehot + eps / C.
- reduction "mean": sum / (sum of weight[target] over non-ignored samples) for class
  indices (NaN when every target is ignored, as torch), sum / (number of samples) for
  probabilities; "sum"; "none": float32 losses of the batch's shape.
Mean and sum are Python floats accumulated in float64.

The class-index case runs in the core (one fused log-softmax + NLL pass per row, with
the options); the probability case is numpy over the core's log_softmax.
"""
from __future__ import annotations

import numpy as np

from .. import _core
from ._args import as_float32, finite, index
from ..autograd import array_of, record, wants
from ._registry import grad_rule
from .loss_reduce import REDUCTIONS, constant, float_input, loss_output, reduce, reduction_arg, scaled, upstream

__all__ = ["cross_entropy", "cross_entropy_backward", "nll_loss", "nll_loss_backward"]


# -- arguments -------------------------------------------------------------------------------
def _legacy_reduction(weight, reduction):
    """cross_entropy(input, target, "sum"): the third positional argument was reduction
    before weight existed; a string there still means reduction."""
    if isinstance(weight, str):
        if reduction != "mean":
            raise TypeError(f"reduction given twice: {weight!r} (third argument) and {reduction!r}")
        return None, weight
    return weight, reduction


def _rows(x: np.ndarray, op: str):
    """(rows (M, C) C-contiguous, batch shape): the class axis moved last and the rest
    flattened, so the core sees one row per sample."""
    if x.ndim == 0:
        raise ValueError(f"{op}: input must be (C,), (N, C) or (N, C, d1, ...), got a scalar")
    if x.ndim == 1:
        return x.reshape(1, -1), ()
    if x.ndim == 2:
        return x, (x.shape[0],)
    n, c = x.shape[:2]
    rows = np.ascontiguousarray(np.moveaxis(x.reshape(n, c, -1), 1, 2).reshape(-1, c))
    return rows, (n, *x.shape[2:])


def _unrows(g_rows: np.ndarray, shape: tuple) -> np.ndarray:
    """The inverse of _rows for a gradient: (M, C) back to the input's layout."""
    if len(shape) <= 2:
        return g_rows.reshape(shape)
    n, c = shape[:2]
    return np.ascontiguousarray(g_rows.reshape(n, -1, c).transpose(0, 2, 1)).reshape(shape)


def _is_probabilities(x: np.ndarray, target) -> bool:
    """A floating target with the input's shape holds class probabilities (torch's rule);
    anything else is read as class indices (and its shape or dtype errors say so)."""
    t = target if type(target) is np.ndarray else np.asarray(target)
    return t.shape == x.shape and t.dtype.kind == "f"


def _indices(target, batch: tuple, x: np.ndarray, op: str) -> np.ndarray:
    t = target if type(target) is np.ndarray else np.asarray(target)
    if t.dtype.kind not in "iu":  # (bool is kind "b")
        raise TypeError(f"{op}: target must hold integer class indices (or probabilities with the input's shape "
                        f"{x.shape}), got dtype {t.dtype} and shape {t.shape}")
    if t.shape != batch:
        raise ValueError(f"{op}: target has {t.size} labels but input has {int(np.prod(batch))} rows (one per "
                         f"sample and position): target must have shape {batch} for input of shape {x.shape}, "
                         f"got shape {t.shape}")
    return np.ascontiguousarray(t, dtype=np.int64).reshape(-1)


def _class_weight(weight, classes: int, op: str):
    if weight is None:
        return None
    w = as_float32(weight, f"{op}: weight")
    if w.shape != (classes,):
        raise ValueError(f"{op}: weight must have shape ({classes},), one entry per class, got shape {w.shape}")
    return w


def _smoothing(label_smoothing) -> float:
    if type(label_smoothing) is float and 0.0 <= label_smoothing <= 1.0:  # the common case, quickly
        return label_smoothing
    return finite(label_smoothing, "label_smoothing", minimum=0.0, maximum=1.0)


def _mean_denominator(t: np.ndarray, w, ignore_index: int) -> float:
    """Sum of weight[target] over the samples not ignored (their count without weights)."""
    valid = t != ignore_index
    if w is None:
        return float(np.count_nonzero(valid))
    return float(np.sum(w[t[valid]], dtype=np.float64))


def _check_labels(t: np.ndarray, classes: int, ignore_index: int, op: str, batch: tuple):
    """Every label in [0, classes) or equal to ignore_index; the first bad one is named
    by its index in the target's own shape."""
    bad = np.flatnonzero(((t < 0) | (t >= classes)) & (t != ignore_index))
    if bad.size:
        i = int(bad[0])
        where = ", ".join(str(int(k)) for k in np.unravel_index(i, batch)) if len(batch) > 1 else str(i)
        raise ValueError(f"{op}: target[{where}] = {int(t[i])} is not a class index in [0, {classes}) "
                         f"(nor ignore_index {ignore_index})")


# -- cross-entropy -----------------------------------------------------------------------------
class _CrossEntropy:
    """The checked arguments of one cross_entropy call, shared by forward and backward."""

    def __init__(self, input, target, weight, ignore_index, reduction, label_smoothing, op="cross_entropy"):
        self.x = float_input(input, f"{op}: input")
        self.reduction = reduction_arg(reduction, REDUCTIONS)
        self.eps = _smoothing(label_smoothing)
        self.ignore_index = ignore_index if type(ignore_index) is int else index(ignore_index, "ignore_index")
        self.rows, self.batch = _rows(self.x, op)
        classes = self.rows.shape[1]
        if classes < 1 and self.rows.shape[0]:
            raise ValueError(f"{op}: input must have at least one class, got shape {self.x.shape}")
        self.w = _class_weight(weight, classes, op)
        self.probabilities = _is_probabilities(self.x, target)
        if self.probabilities:
            if self.ignore_index != -100:
                raise ValueError(f"{op}: ignore_index is not supported for class-probability targets (it applies "
                                 "to class indices only)")
            p = as_float32(target, f"{op}: target")
            self.p_rows = _rows(p, op)[0]
            self.denominator = float(self.rows.shape[0])
        else:
            self.t = _indices(target, self.batch, self.x, op)
            if len(self.batch) > 1:  # the core names a bad label by its row; here, by its position
                _check_labels(self.t, classes, self.ignore_index, op, self.batch)

    def _smoothed_target(self):
        c = self.rows.shape[1]
        p = self.p_rows * np.float32(1.0 - self.eps) + np.float32(self.eps / c) if self.eps else self.p_rows
        return p * self.w if self.w is not None else p

    def forward(self):
        if self.probabilities:
            log_p = _core.log_softmax(self.rows, 1)
            per = -np.sum(self._smoothed_target() * log_p, axis=1, dtype=np.float32)
            return reduce(per.reshape(self.batch), self.reduction, self.denominator)
        per = _core.cross_entropy_rows(self.rows, self.t, self.w, self.ignore_index, self.eps)
        denominator = _mean_denominator(self.t, self.w, self.ignore_index) if self.reduction == "mean" else None
        return reduce(per.reshape(self.batch), self.reduction, denominator)

    def backward(self, grad, want_target=False):
        """(d/d input, d/d target or None): the target has a gradient only as probabilities."""
        if self.probabilities:
            scale, per = upstream(grad, self.reduction, self.batch, self.denominator)
            rows_scale = None if per is None else per.reshape(-1, 1)
            log_p = _core.log_softmax(self.rows, 1)
            c = self._smoothed_target()
            # d/dx_j of -sum_k c_k log p_k = p_j sum_k c_k - c_j
            gx = np.exp(log_p) * np.sum(c, axis=1, keepdims=True) - c
            gx = _unrows(scaled(gx, scale, rows_scale), self.x.shape)
            gt = None
            if want_target:
                w = self.w if self.w is not None else np.float32(1.0)
                gt = _unrows(scaled(-(1.0 - self.eps) * w * log_p, scale, rows_scale), self.x.shape)
            return gx, gt
        denominator = _mean_denominator(self.t, self.w, self.ignore_index) if self.reduction == "mean" else None
        scale, per = upstream(grad, self.reduction, self.batch, denominator)
        row_scale = None if per is None else per.reshape(-1)
        g = _core.cross_entropy_backward(self.rows, self.t, scale, row_scale, self.w, self.ignore_index, self.eps)
        return _unrows(g, self.x.shape), None


def cross_entropy(input, target, weight=None, ignore_index: int = -100, reduction: str = "mean",
                  label_smoothing: float = 0.0):
    """Cross-entropy of logits against class indices or class probabilities, as
    torch.nn.functional.cross_entropy (see this module's docstring for the layouts and
    options). cross_entropy(input, target, "sum") still means reduction="sum".

    With indices: loss = (1 - eps) w[t] (lse - x_t) + eps / C sum_j w_j (lse - x_j), where
    lse = log(sum exp(x)) is computed stably (the row maximum is subtracted first).
    Returns a float for "mean"/"sum", a float32 array of the batch's shape for "none".
    """
    weight, reduction = _legacy_reduction(weight, reduction)
    return _CrossEntropy(input, target, weight, ignore_index, reduction, label_smoothing).forward()


def cross_entropy_backward(input, target, reduction: str = "mean", grad=1.0, *, weight=None,
                           ignore_index: int = -100, label_smoothing: float = 0.0) -> np.ndarray:
    """Gradient of cross_entropy with respect to input, times grad (a number, or for
    reduction "none" also an array of the loss's shape). Without options it is
    (softmax(input) - onehot(target)) * grad (/ N for "mean"). float32, input's shape."""
    ce = _CrossEntropy(input, target, weight, ignore_index, reduction, label_smoothing, "cross_entropy_backward")
    return ce.backward(grad)[0]


# -- negative log-likelihood -------------------------------------------------------------------
class _NLL:
    def __init__(self, input, target, weight, ignore_index, reduction, op="nll_loss"):
        self.x = as_float32(input, f"{op}: input")
        self.reduction = reduction_arg(reduction, REDUCTIONS)
        self.ignore_index = index(ignore_index, "ignore_index")
        self.rows, self.batch = _rows(self.x, op)
        classes = self.rows.shape[1]
        self.w = _class_weight(weight, classes, op)
        self.t = _indices(target, self.batch, self.x, op)
        _check_labels(self.t, classes, self.ignore_index, op, self.batch)
        self.valid = self.t != self.ignore_index
        self.safe_t = np.where(self.valid, self.t, 0)  # a valid column to gather from
        wt = self.w[self.safe_t] if self.w is not None else np.ones(self.t.shape, np.float32)
        self.wt = np.where(self.valid, wt, np.float32(0.0)).astype(np.float32)
        self.denominator = float(np.sum(self.wt, dtype=np.float64))

    def forward(self):
        picked = self.rows[np.arange(self.rows.shape[0]), self.safe_t]
        per = np.where(self.valid, -picked * self.wt, np.float32(0.0)).astype(np.float32)
        return reduce(per.reshape(self.batch), self.reduction, self.denominator)

    def backward(self, grad):
        scale, per = upstream(grad, self.reduction, self.batch, self.denominator)
        k = -self.wt * np.float32(scale)
        if per is not None:
            k = k * per.reshape(-1)
        g = np.zeros(self.rows.shape, np.float32)
        g[np.arange(self.rows.shape[0]), self.safe_t] = k
        return _unrows(g, self.x.shape)


def nll_loss(input, target, weight=None, ignore_index: int = -100, reduction: str = "mean"):
    """Negative log-likelihood, as torch.nn.functional.nll_loss: loss = -w[t] input[t] for
    log-probabilities input (e.g. from log_softmax) and class indices target; layouts,
    weight, ignore_index and reductions as cross_entropy. nll_loss(input, target, "sum")
    still means reduction="sum". (A gather: numpy.)"""
    weight, reduction = _legacy_reduction(weight, reduction)
    return _NLL(input, target, weight, ignore_index, reduction).forward()


def nll_loss_backward(input, target, reduction: str = "mean", grad=1.0, *, weight=None,
                      ignore_index: int = -100) -> np.ndarray:
    """Gradient of nll_loss with respect to input: -grad * w[t] (/ the mean's denominator)
    at each sample's target, 0 elsewhere. float32, input's shape."""
    return _NLL(input, target, weight, ignore_index, reduction, "nll_loss_backward").backward(grad)


# -- recording versions ----------------------------------------------------------------------
@grad_rule("cross_entropy")
def _cross_entropy_recorded(input, target, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    weight, reduction = _legacy_reduction(weight, reduction)
    constant(weight, "weight", "cross_entropy")
    if type(array_of(input)).__module__ == "cnnnative._cuda" and reduction != "none":
        return _cross_entropy_recorded_on_gpu(input, target, weight, ignore_index, reduction, label_smoothing)
    ce = _CrossEntropy(array_of(input), array_of(target), array_of(weight), ignore_index, reduction,
                       label_smoothing)
    out = loss_output(ce.forward())

    def backward(g):
        gx, gt = ce.backward(g, want_target=wants(target))
        return (gx if wants(input) else None), gt, None

    return record(out, (input, target, weight), backward, "cross_entropy")


def _cross_entropy_recorded_on_gpu(input, target, weight, ignore_index, reduction, label_smoothing):
    """Logits on the GPU: the fused GPU kernels (plain case; the GPU ops refuse weight and
    label smoothing by name). The loss is a host scalar; its backward is one GPU kernel."""
    from ..cuda import ops as cuda_ops
    x, t = array_of(input), array_of(target)
    out = loss_output(cuda_ops.cross_entropy(x, t, weight, ignore_index, reduction, label_smoothing))

    def backward(g):
        return cuda_ops.cross_entropy_backward(x, t, reduction, float(np.asarray(g))), None, None

    return record(out, (input, target, weight), backward, "cross_entropy")


@grad_rule("nll_loss")
def _nll_loss_recorded(input, target, weight=None, ignore_index=-100, reduction="mean"):
    weight, reduction = _legacy_reduction(weight, reduction)
    constant(weight, "weight", "nll_loss")
    if getattr(target, "requires_grad", False):
        raise ValueError("nll_loss: target holds class indices, which have no gradient")
    nll = _NLL(array_of(input), array_of(target), array_of(weight), ignore_index, reduction)
    out = loss_output(nll.forward())
    return record(out, (input, None, None), lambda g: (nll.backward(g), None, None), "nll_loss")
