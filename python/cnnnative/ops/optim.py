"""Optimizer updates done in place in one fused C++ pass per parameter: SGD, Adam / AdamW,
RMSprop, Adagrad, each torch.optim's single-tensor (foreach=False) update rule in its order of
float operations; per-step scalars (bias corrections, step size) are derived in double and
rounded to float as PyTorch does.

Arrays that are updated (param, the state buffers, the x of scale_) must be C-contiguous,
writeable float32 numpy arrays: anything else is a ValueError, because converting them
would update a copy and silently lose the step. Gradients are read only and may be any
array-like of the parameter's shape (converted to float32).
"""
from __future__ import annotations

from .. import _core

__all__ = ["sgd_step", "adam_step", "rmsprop_step", "adagrad_step", "sum_of_squares", "scale_"]


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


def adam_step(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq=None, *, step, lr, beta1=0.9,
              beta2=0.999, eps=1e-8, weight_decay=0.0, amsgrad=False, decoupled_weight_decay=False,
              maximize=False) -> None:
    """One torch.optim.Adam (or AdamW, decoupled_weight_decay=True) step for one parameter,
    in place. param, grad, exp_avg, exp_avg_sq (and max_exp_avg_sq, needed when amsgrad):
    the same shape; the state starts as zeros. step: the step being taken (1 on the first),
    counted per parameter. Per element (g = -grad if maximize):
      param *= 1 - lr * weight_decay                    (AdamW)
      g = g + weight_decay * param                      (Adam)
      exp_avg = lerp(exp_avg, g, 1 - beta1)
      exp_avg_sq = exp_avg_sq * beta2 + (1 - beta2) * g * g
      v = max_exp_avg_sq = maximum(max_exp_avg_sq, exp_avg_sq) if amsgrad else exp_avg_sq
      param -= lr / (1 - beta1**step) * exp_avg / (sqrt(v) / sqrt(1 - beta2**step) + eps)
    ValueError for lr, eps, weight_decay < 0, betas outside [0, 1), step < 1.
    """
    _core.adam_step(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, step, float(lr), float(beta1),
                    float(beta2), float(eps), float(weight_decay), bool(amsgrad),
                    bool(decoupled_weight_decay), bool(maximize))


def rmsprop_step(param, grad, square_avg, grad_avg=None, momentum_buffer=None, *, lr, alpha=0.99,
                 eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False, maximize=False) -> None:
    """One torch.optim.RMSprop step for one parameter, in place. square_avg (and grad_avg when
    centered, momentum_buffer when momentum > 0): the parameter's shape, starting as zeros.
    Per element (g = -grad if maximize):
      g = g + weight_decay * param
      square_avg = square_avg * alpha + (1 - alpha) * g * g
      grad_avg = lerp(grad_avg, g, 1 - alpha)           (centered)
      avg = sqrt(square_avg - grad_avg**2 if centered else square_avg) + eps
      momentum_buffer = momentum * momentum_buffer + g / avg;  param -= lr * momentum_buffer
      (momentum > 0), else param -= lr * g / avg
    ValueError for lr, alpha, eps, weight_decay, momentum < 0.
    """
    _core.rmsprop_step(param, grad, square_avg, grad_avg, momentum_buffer, float(lr), float(alpha),
                       float(eps), float(weight_decay), float(momentum), bool(centered), bool(maximize))


def adagrad_step(param, grad, state_sum, *, step, lr, lr_decay=0.0, eps=1e-10, weight_decay=0.0,
                 maximize=False) -> None:
    """One torch.optim.Adagrad step for one parameter, in place. state_sum: the parameter's
    shape, starting filled with initial_accumulator_value. step: the step being taken (1 on
    the first). Per element (g = -grad if maximize):
      g = g + weight_decay * param
      state_sum += g * g
      param -= lr / (1 + (step - 1) * lr_decay) * g / (sqrt(state_sum) + eps)
    ValueError for lr, lr_decay, eps, weight_decay < 0, step < 1.
    """
    _core.adagrad_step(param, grad, state_sum, step, float(lr), float(lr_decay), float(eps),
                       float(weight_decay), bool(maximize))


def sum_of_squares(x) -> float:
    """sum(x**2) accumulated in float64 (for gradient-norm clipping). x: any shape."""
    return _core.sum_of_squares(x)


def scale_(x, s: float) -> None:
    """x *= s in place (x: C-contiguous writeable float32, any shape)."""
    _core.scale_(x, float(s))
