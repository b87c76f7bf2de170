"""What Trainer needs to know about its loss: the loss function itself (from a name, a
cnnnative.nn loss module or any callable), the kind of task it implies, the metrics
reported for that task, and ArrayPairs, the (inputs, targets) data source for targets
that are not class labels (regression)."""
from __future__ import annotations

import numpy as np

from .nn import loss as nn_loss

__all__ = ["resolve_loss", "resolve_metrics", "is_plain_cross_entropy", "ArrayPairs", "METRIC_LABELS"]

# Trainer(loss=<name>): short names and the cnnnative.ops names.
_BY_NAME = {
    "cross_entropy": nn_loss.CrossEntropyLoss,
    "nll": nn_loss.NLLLoss, "nll_loss": nn_loss.NLLLoss,
    "mse": nn_loss.MSELoss, "mse_loss": nn_loss.MSELoss,
    "l1": nn_loss.L1Loss, "l1_loss": nn_loss.L1Loss,
    "smooth_l1": nn_loss.SmoothL1Loss, "smooth_l1_loss": nn_loss.SmoothL1Loss,
    "huber": nn_loss.HuberLoss, "huber_loss": nn_loss.HuberLoss,
    "bce": nn_loss.BCELoss, "binary_cross_entropy": nn_loss.BCELoss,
    "bce_with_logits": nn_loss.BCEWithLogitsLoss, "binary_cross_entropy_with_logits": nn_loss.BCEWithLogitsLoss,
    "kl_div": nn_loss.KLDivLoss,
}

# The task each standard loss implies (it picks the target dtype and the default metrics).
_TASK = {
    "cross_entropy": "classification", "nll_loss": "classification",
    "mse_loss": "regression", "l1_loss": "regression", "smooth_l1_loss": "regression", "huber_loss": "regression",
    "binary_cross_entropy": "binary_probabilities", "binary_cross_entropy_with_logits": "binary_logits",
    "kl_div": "distribution",
}

_DEFAULT_METRICS = {"classification": ("accuracy",), "regression": ("mse", "mae"),
                    "binary_probabilities": ("binary_accuracy",), "binary_logits": ("binary_accuracy",),
                    "distribution": (), "custom": ()}

# How fit's one-line summary names each metric.
METRIC_LABELS = {"accuracy": "acc", "binary_accuracy": "acc", "mse": "mse", "mae": "mae"}


def resolve_loss(loss):
    """(loss function, its standard name or None, task) for Trainer(loss=...)."""
    if isinstance(loss, str):
        cls = _BY_NAME.get(loss)
        if cls is None:
            raise ValueError(f"unknown loss {loss!r}; choose one of {sorted(_BY_NAME)}, pass a cnnnative.nn loss "
                             "module or a callable(output, target)")
        module = cls()
        return module, module.name, _TASK[module.name]
    if isinstance(loss, nn_loss._Loss):
        return loss, loss.name, _TASK[loss.name]
    if callable(loss):
        return loss, None, "custom"
    raise TypeError(f"loss must be a name, a cnnnative.nn loss module or a callable(output, target), got "
                    f"{type(loss).__name__}")


def is_plain_cross_entropy(loss_fn) -> bool:
    """The default cross-entropy (no weight, smoothing or other reduction): the case the
    fused fast path in Trainer computes directly."""
    return (type(loss_fn) is nn_loss.CrossEntropyLoss and loss_fn.weight is None and loss_fn.label_smoothing == 0.0
            and loss_fn.ignore_index == -100 and loss_fn.reduction == "mean")


# -- metrics: each maps (host output, host target) to (sum, count) over a batch -----------------
def _accuracy(out, y):
    if y.ndim == out.ndim and np.issubdtype(y.dtype, np.floating):  # class probabilities
        return int((out.argmax(axis=1) == y.argmax(axis=1)).sum()), y.size // max(y.shape[1], 1)
    counted = y >= 0  # ignored labels (ignore_index = -100) are not scored
    return int(((out.argmax(axis=1) == y) & counted).sum()), int(counted.sum())


def _as_output(out, y):
    return y.reshape(out.shape) if y.size == out.size else y


def _mse(out, y):
    d = out - _as_output(out, y)
    return float(np.sum(np.square(d, dtype=np.float64))), d.size


def _mae(out, y):
    d = out - _as_output(out, y)
    return float(np.sum(np.abs(d), dtype=np.float64)), d.size


def _binary_accuracy(threshold):
    def metric(out, y):
        y = _as_output(out, y)
        return int(((out > threshold) == (y > 0.5)).sum()), y.size
    return metric


def resolve_metrics(metrics, task, loss_fn) -> dict:
    """{name: metric function} for Trainer(metrics=...) (None: the task's defaults)."""
    names = _DEFAULT_METRICS[task] if metrics is None else metrics
    if isinstance(names, str):
        names = (names,)
    out = {}
    for name in names:
        if name == "accuracy":
            out[name] = _accuracy
        elif name == "binary_accuracy":
            out[name] = _binary_accuracy(0.5 if task == "binary_probabilities" else 0.0)
        elif name == "mse":
            out[name] = _mse
        elif name == "mae":
            out[name] = _mae
        else:
            raise ValueError(f"unknown metric {name!r}; choose from {sorted(METRIC_LABELS)}")
    return out


# -- data ------------------------------------------------------------------------------------------
class ArrayPairs:
    """(inputs, targets) arrays of any sample shape with float or integer targets, batched
    like Dataset (same shuffling): what fit/evaluate take for regression. uint8 inputs are
    scaled by 1/255 per batch, anything else becomes float32."""

    def __init__(self, x, y, name="data"):
        x, y = np.asarray(x), np.asarray(y)
        if x.ndim == 0 or y.ndim == 0 or x.shape[0] != y.shape[0]:
            raise ValueError(f"{name}: inputs and targets must have the same first dimension, got shapes "
                             f"{x.shape} and {y.shape}")
        if not (np.issubdtype(y.dtype, np.number) and y.dtype != np.bool_) or np.iscomplexobj(y):
            raise TypeError(f"{name}: targets must be real numbers, got dtype {y.dtype}")
        self.inputs = x if x.dtype == np.uint8 else np.ascontiguousarray(x, np.float32)
        self.targets = y if np.issubdtype(y.dtype, np.integer) else np.ascontiguousarray(y, np.float32)
        self.name = name

    def __len__(self) -> int:
        return int(self.targets.shape[0])

    def _inputs(self, idx):
        x = self.inputs[idx]
        return x.astype(np.float32) * np.float32(1 / 255) if x.dtype == np.uint8 else x

    def batches(self, batch_size: int, shuffle: bool = False, seed=None):
        n = len(self)
        order = np.arange(n)
        if shuffle:
            rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
            order = rng.permutation(n)
        for start in range(0, n, batch_size):
            idx = order[start:start + batch_size]
            if shuffle:
                idx = np.sort(idx)
            yield self._inputs(idx), self.targets[idx]
