"""Loss modules with torch.nn's names: each stores its options (class weights as buffers,
saved in state_dict) and its forward(input, target) calls the function of the same name in
cnnnative.ops (which records the backward when input is a Tensor that requires grad).

    loss_fn = nn.CrossEntropyLoss(label_smoothing=0.1)
    loss = loss_fn(model(x), y); loss.backward()

Options after the first are keyword-only (torch's deprecated size_average / reduce
positions are not reproduced, so a positional argument cannot land in the wrong place).
"""
from __future__ import annotations

import numpy as np

from .. import ops
from ..ops._args import as_float32, finite, index
from ..ops.loss_reduce import REDUCTIONS, nonnegative, positive, reduction_arg
from .module import Module

__all__ = ["CrossEntropyLoss", "NLLLoss", "MSELoss", "L1Loss", "SmoothL1Loss", "HuberLoss", "BCELoss",
           "BCEWithLogitsLoss", "KLDivLoss"]


def _optional_array(value, name):
    if value is None:
        return None
    return as_float32(getattr(value, "data", value), name).copy()


class _Loss(Module):
    """Base: reduction checked once; called as loss_fn(input, target)."""

    name = ""  # the cnnnative.ops function (and Trainer loss name) this module calls

    def __init__(self, reduction: str = "mean", reductions=REDUCTIONS) -> None:
        super().__init__()
        self.reduction = reduction_arg(reduction, reductions)

    def __call__(self, input, target):
        return self.forward(input, target)

    def output_shape(self, input_shape):
        return () if self.reduction != "none" else tuple(input_shape)

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}"

    def __repr__(self):
        return f"{type(self).__name__}({self.extra_repr()})"


class CrossEntropyLoss(_Loss):
    """cross_entropy of logits (N, C[, d...]) with class indices or probabilities."""

    name = "cross_entropy"

    def __init__(self, weight=None, *, ignore_index: int = -100, reduction: str = "mean",
                 label_smoothing: float = 0.0) -> None:
        super().__init__(reduction)
        self.register_buffer("weight", _optional_array(weight, "CrossEntropyLoss: weight"))
        self.ignore_index = index(ignore_index, "ignore_index")
        self.label_smoothing = finite(label_smoothing, "label_smoothing", minimum=0.0, maximum=1.0)

    def forward(self, input, target):
        return ops.cross_entropy(input, target, self.weight, self.ignore_index, self.reduction,
                                 self.label_smoothing)

    def extra_repr(self):
        return (f"reduction={self.reduction!r}, ignore_index={self.ignore_index}, "
                f"label_smoothing={self.label_smoothing}" + (", weight=..." if self.weight is not None else ""))


class NLLLoss(_Loss):
    """nll_loss of log-probabilities (N, C[, d...]) with class indices."""

    name = "nll_loss"

    def __init__(self, weight=None, *, ignore_index: int = -100, reduction: str = "mean") -> None:
        super().__init__(reduction)
        self.register_buffer("weight", _optional_array(weight, "NLLLoss: weight"))
        self.ignore_index = index(ignore_index, "ignore_index")

    def forward(self, input, target):
        return ops.nll_loss(input, target, self.weight, self.ignore_index, self.reduction)


class MSELoss(_Loss):
    name = "mse_loss"

    def __init__(self, *, reduction: str = "mean") -> None:
        super().__init__(reduction)

    def forward(self, input, target):
        return ops.mse_loss(input, target, self.reduction)


class L1Loss(_Loss):
    name = "l1_loss"

    def __init__(self, *, reduction: str = "mean") -> None:
        super().__init__(reduction)

    def forward(self, input, target):
        return ops.l1_loss(input, target, self.reduction)


class SmoothL1Loss(_Loss):
    name = "smooth_l1_loss"

    def __init__(self, *, reduction: str = "mean", beta: float = 1.0) -> None:
        super().__init__(reduction)
        self.beta = nonnegative(beta, "beta")

    def forward(self, input, target):
        return ops.smooth_l1_loss(input, target, self.reduction, self.beta)

    def extra_repr(self):
        return f"reduction={self.reduction!r}, beta={self.beta}"


class HuberLoss(_Loss):
    name = "huber_loss"

    def __init__(self, *, reduction: str = "mean", delta: float = 1.0) -> None:
        super().__init__(reduction)
        self.delta = positive(delta, "delta")

    def forward(self, input, target):
        return ops.huber_loss(input, target, self.reduction, self.delta)

    def extra_repr(self):
        return f"reduction={self.reduction!r}, delta={self.delta}"


class BCELoss(_Loss):
    """binary_cross_entropy of probabilities in [0, 1]."""

    name = "binary_cross_entropy"

    def __init__(self, weight=None, *, reduction: str = "mean") -> None:
        super().__init__(reduction)
        self.register_buffer("weight", _optional_array(weight, "BCELoss: weight"))

    def forward(self, input, target):
        return ops.binary_cross_entropy(input, target, self.weight, self.reduction)


class BCEWithLogitsLoss(_Loss):
    """binary_cross_entropy_with_logits; pos_weight (e.g. one entry per class) weighs the
    positive term."""

    name = "binary_cross_entropy_with_logits"

    def __init__(self, weight=None, *, reduction: str = "mean", pos_weight=None) -> None:
        super().__init__(reduction)
        self.register_buffer("weight", _optional_array(weight, "BCEWithLogitsLoss: weight"))
        self.register_buffer("pos_weight", _optional_array(pos_weight, "BCEWithLogitsLoss: pos_weight"))

    def forward(self, input, target):
        return ops.binary_cross_entropy_with_logits(input, target, self.weight, self.reduction, self.pos_weight)


class KLDivLoss(_Loss):
    """kl_div of log-probabilities input against target; reduction may be "batchmean"."""

    name = "kl_div"

    def __init__(self, *, reduction: str = "mean", log_target: bool = False) -> None:
        super().__init__(reduction, ("mean", "batchmean", "sum", "none"))
        self.log_target = bool(log_target)

    def forward(self, input, target):
        return ops.kl_div(input, target, self.reduction, self.log_target)

    def extra_repr(self):
        return f"reduction={self.reduction!r}, log_target={self.log_target}"
