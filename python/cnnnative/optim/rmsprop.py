"""RMSprop (torch.optim.RMSprop, single-tensor rule), each parameter's step one fused core
call (ops.rmsprop_step)."""
from __future__ import annotations

from .. import ops
from ..ops._args import finite
from .optimizer import Optimizer, flag

__all__ = ["RMSprop"]


class RMSprop(Optimizer):
    """RMSprop (Hinton), PyTorch's semantics (torch.optim.RMSprop), per element:

        g = grad + weight_decay * p
        s = alpha * s + (1 - alpha) * g * g
        centered: a = alpha * a + (1 - alpha) * g;  avg = sqrt(s - a * a) + eps
        otherwise avg = sqrt(s) + eps
        momentum > 0: b = momentum * b + g / avg;  p -= lr * b
        otherwise p -= lr * g / avg

    params: Parameters, a Module, or a list of group dicts. State per parameter: step,
    square_avg (and grad_avg when centered, momentum_buffer when momentum > 0).
    """

    _HYPER = ("lr", "alpha", "eps", "weight_decay", "momentum", "centered", "maximize")
    _BUFFER_NAMES = ("square_avg", "grad_avg", "momentum_buffer")

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False,
                 *, maximize=False, foreach=None) -> None:  # foreach: accepted as torch takes it; always fused here
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                                      momentum=momentum, centered=centered, maximize=maximize))

    def _checked_hyper(self, g, where):
        out = {k: finite(g[k], f"{where}: {k}", 0.0) for k in ("lr", "alpha", "eps", "weight_decay", "momentum")}
        out["centered"] = flag(g["centered"], f"{where}: centered")
        out["maximize"] = flag(g["maximize"], f"{where}: maximize")
        return out

    def _buffers(self, group):
        names = ["square_avg"]
        if group["centered"]:
            names.append("grad_avg")
        if group["momentum"] > 0:
            names.append("momentum_buffer")
        return dict.fromkeys(names, 0.0)

    def _update(self, param, grad, st, g, step):
        ops.rmsprop_step(param, grad, st["square_avg"], st.get("grad_avg") if g["centered"] else None,
                         st.get("momentum_buffer") if g["momentum"] > 0 else None, lr=g["lr"], alpha=g["alpha"],
                         eps=g["eps"], weight_decay=g["weight_decay"], momentum=g["momentum"],
                         centered=g["centered"], maximize=g["maximize"])
