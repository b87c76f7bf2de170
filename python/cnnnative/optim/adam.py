"""Adam and AdamW (torch.optim.Adam / AdamW, single-tensor rule), each parameter's step one
fused core call (ops.adam_step)."""
from __future__ import annotations

from .. import ops
from ..ops._args import finite
from .optimizer import Optimizer, beta, flag

__all__ = ["Adam", "AdamW"]


class Adam(Optimizer):
    """Adam (Kingma & Ba), PyTorch's semantics (torch.optim.Adam), per element:

        g = grad + weight_decay * p        (L2 penalty in the gradient; AdamW decouples it)
        m = beta1 * m + (1 - beta1) * g;  v = beta2 * v + (1 - beta2) * g * g
        v_hat = max(v_hat, v) if amsgrad else v
        p -= lr / (1 - beta1**t) * m / (sqrt(v_hat) / sqrt(1 - beta2**t) + eps)

    t counts each parameter's steps. params: Parameters, a Module, or a list of dicts
    {"params": [...], "lr": ...} (groups; missing options take the defaults given here).
    maximize=True ascends; decoupled_weight_decay=True is AdamW. State per parameter: step, exp_avg, exp_avg_sq (and
    max_exp_avg_sq with amsgrad), float32 arrays of the parameter's shape.
    """

    _HYPER = ("lr", "betas", "eps", "weight_decay", "amsgrad", "maximize", "decoupled_weight_decay")
    _BUFFER_NAMES = ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False,
                 *, maximize=False, decoupled_weight_decay=False, foreach=None, fused=None) -> None:
        # foreach / fused are accepted as torch.optim takes them: every step here is one fused
        # pass per tensor whatever they say, with the single-tensor rule's rounding.
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      amsgrad=amsgrad, maximize=maximize,
                                      decoupled_weight_decay=decoupled_weight_decay))

    def _checked_hyper(self, g, where):
        betas = g["betas"]
        if isinstance(betas, (str, bytes)) or not hasattr(betas, "__len__") or len(betas) != 2:
            raise TypeError(f"{where}: betas must be a pair (beta1, beta2), got {betas!r:.80}")
        return {"lr": finite(g["lr"], f"{where}: lr", 0.0),
                "betas": (beta(betas[0], f"{where}: betas[0]"), beta(betas[1], f"{where}: betas[1]")),
                "eps": finite(g["eps"], f"{where}: eps", 0.0),
                "weight_decay": finite(g["weight_decay"], f"{where}: weight_decay", 0.0),
                "amsgrad": flag(g["amsgrad"], f"{where}: amsgrad"),
                "maximize": flag(g["maximize"], f"{where}: maximize"),
                "decoupled_weight_decay": flag(g["decoupled_weight_decay"], f"{where}: decoupled_weight_decay")}

    def _buffers(self, group):
        names = ("exp_avg", "exp_avg_sq", "max_exp_avg_sq") if group["amsgrad"] else ("exp_avg", "exp_avg_sq")
        return dict.fromkeys(names, 0.0)

    def _update(self, param, grad, st, g, step):
        ops.adam_step(param, grad, st["exp_avg"], st["exp_avg_sq"], st.get("max_exp_avg_sq") if g["amsgrad"] else None,
                      step=step, lr=g["lr"], beta1=g["betas"][0], beta2=g["betas"][1], eps=g["eps"],
                      weight_decay=g["weight_decay"], amsgrad=g["amsgrad"],
                      decoupled_weight_decay=g["decoupled_weight_decay"], maximize=g["maximize"])


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter; torch.optim.AdamW): each step
    first shrinks the parameter, p *= 1 - lr * weight_decay, then takes Adam's step without
    any weight-decay term in the gradient. Default weight_decay 1e-2, as PyTorch."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False,
                 *, maximize=False, foreach=None, fused=None) -> None:
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                         maximize=maximize, decoupled_weight_decay=True)
