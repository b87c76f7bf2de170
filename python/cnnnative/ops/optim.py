"""Optimizer updates done in place in one fused C++ pass per parameter.

Arrays that are updated (param, momentum_buffer, the x of scale_) must be C-contiguous,
writeable float32 numpy arrays: anything else is a ValueError, because converting them
would update a copy and silently lose the step. Gradients are read only and may be any
array-like of the parameter's shape (converted to float32).
"""
from __future__ import annotations

from .. import _core

__all__ = ["sgd_step", "sum_of_squares", "scale_"]


def sgd_step(param, grad, momentum_buffer=None, *, lr, momentum=0.0, dampening=0.0,
             weight_decay=0.0, nesterov=False, first_step=False) -> None:
    """One torch.optim.SGD step for one parameter, in place.

    param, grad, momentum_buffer: the same shape. Per element:
      d = grad + weight_decay * param              (if weight_decay != 0)
      buf = d                                      (first_step: PyTorch's buffer creation,
                                                    so no dampening on the first step)
      buf = momentum * buf + (1 - dampening) * d   (later steps)
      d = d + momentum * buf if nesterov else buf  (if momentum != 0)
      param -= lr * d
    momentum != 0 needs a momentum_buffer (e.g. np.zeros_like(param); its content is
    ignored when first_step). lr, momentum, weight_decay must be >= 0; nesterov needs
    momentum > 0 and dampening == 0 (ValueError otherwise, as PyTorch).
    """
    _core.sgd_step(param, grad, momentum_buffer, float(lr), float(momentum), float(dampening),
                   float(weight_decay), bool(nesterov), bool(first_step))


def sum_of_squares(x) -> float:
    """sum(x**2) accumulated in float64 (for gradient-norm clipping). x: any shape."""
    return _core.sum_of_squares(x)


def scale_(x, s: float) -> None:
    """x *= s in place (x: C-contiguous writeable float32, any shape)."""
    _core.scale_(x, float(s))
