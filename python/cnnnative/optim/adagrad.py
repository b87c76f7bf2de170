"""Adagrad (torch.optim.Adagrad, single-tensor dense rule), each parameter's step one fused
core call (ops.adagrad_step)."""
from __future__ import annotations

from .. import ops
from ..ops._args import finite
from .optimizer import Optimizer, flag

__all__ = ["Adagrad"]


class Adagrad(Optimizer):
    """Adagrad (Duchi et al.), PyTorch's semantics (torch.optim.Adagrad), per element:

        g = grad + weight_decay * p
        s += g * g                      (s starts at initial_accumulator_value)
        p -= lr / (1 + (t - 1) * lr_decay) * g / (sqrt(s) + eps)

    t counts each parameter's steps. params: Parameters, a Module, or a list of group
    dicts. State per parameter: step, sum.
    """

    _HYPER = ("lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps", "maximize")
    _BUFFER_NAMES = ("sum",)

    def __init__(self, params, lr=1e-2, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0,
                 eps=1e-10, foreach=None, *, maximize=False, fused=None) -> None:  # foreach/fused: as torch; always fused
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value, eps=eps,
                                      maximize=maximize))

    def _checked_hyper(self, g, where):
        out = {k: finite(g[k], f"{where}: {k}", 0.0)
               for k in ("lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps")}
        out["maximize"] = flag(g["maximize"], f"{where}: maximize")
        return out

    def _buffers(self, group):
        return {"sum": group["initial_accumulator_value"]}

    def _update(self, param, grad, st, g, step):
        ops.adagrad_step(param, grad, st["sum"], step=step, lr=g["lr"], lr_decay=g["lr_decay"], eps=g["eps"],
                         weight_decay=g["weight_decay"], maximize=g["maximize"])
