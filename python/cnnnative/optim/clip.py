"""Gradient-norm clipping (torch.nn.utils.clip_grad_norm_)."""
from __future__ import annotations

import math

from .. import ops

__all__ = ["clip_grad_norm_"]


def clip_grad_norm_(parameters, max_norm: float) -> float:
    """Scale gradients in place so their global L2 norm is at most max_norm (as
    torch.nn.utils.clip_grad_norm_). Returns the norm before clipping."""
    grads = [p.grad for p in parameters if p.grad is not None and p.requires_grad]
    if not grads:
        return 0.0
    total = math.sqrt(sum(ops.sum_of_squares(g) for g in grads))
    coef = float(max_norm) / (total + 1e-6)
    if coef < 1.0:
        for g in grads:
            ops.scale_(g, coef)
    return total
