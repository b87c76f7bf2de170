"""Losses, with torch.nn.functional's names, arguments and semantics.

Each family lives in its own file: loss_classification.py (cross_entropy, nll_loss),
loss_regression.py (mse_loss, l1_loss, smooth_l1_loss, huber_loss), loss_binary.py
(binary_cross_entropy, binary_cross_entropy_with_logits), loss_kl.py (kl_div); the
reductions they share are in loss_reduce.py. With numpy arrays in, "mean"/"sum" return a
Python float (accumulated in float64) and "none" a float32 array. With cnnnative Tensors
that require grad, each records its backward (the @grad_rule beside each function).
"""
from .loss_binary import binary_cross_entropy, binary_cross_entropy_with_logits
from .loss_classification import cross_entropy, cross_entropy_backward, nll_loss, nll_loss_backward
from .loss_kl import kl_div
from .loss_regression import huber_loss, l1_loss, mse_loss, smooth_l1_loss

__all__ = ["cross_entropy", "cross_entropy_backward", "nll_loss", "nll_loss_backward",
           "mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss",
           "binary_cross_entropy", "binary_cross_entropy_with_logits", "kl_div"]
