"""Learning-rate schedules (step, multi-step, cosine, linear warm-up). They work with every
optimizer: each sets its optimizer's group["lr"] from group["initial_lr"]."""
from __future__ import annotations

import math

from ..ops._args import finite as _finite, index
from .optimizer import Optimizer, count as _count

__all__ = ["LRScheduler", "StepLR", "MultiStepLR", "CosineAnnealingLR", "LinearWarmupLR"]


class LRScheduler:
    """Sets each group's lr from its initial lr and the schedule position. Call step()
    once per epoch (or per iteration, consistently); position 0 is the start."""

    def __init__(self, optimizer: Optimizer) -> None:
        self.optimizer = optimizer
        self.last_epoch = 0
        self._apply()

    def lr_at(self, base_lr: float, t: int) -> float:
        raise NotImplementedError

    def _apply(self):
        for g in self.optimizer.param_groups:
            g["lr"] = self.lr_at(g["initial_lr"], self.last_epoch)

    def step(self) -> None:
        self.last_epoch += 1
        self._apply()

    def get_last_lr(self) -> list:
        return [g["lr"] for g in self.optimizer.param_groups]

    def state_dict(self) -> dict:
        return {"last_epoch": self.last_epoch}

    def validated_state(self, state: dict, initial_lrs=None) -> dict:
        """state checked (last_epoch a count, the lrs it gives finite) without changing
        anything; initial_lrs: the optimizer's groups' initial lrs after a load that
        restores them too (default: the current ones)."""
        if not isinstance(state, dict) or "last_epoch" not in state:
            raise ValueError(f"scheduler state must be a dict with 'last_epoch', got {state!r:.80}")
        t = _count(state["last_epoch"], "last_epoch")
        if initial_lrs is None:
            initial_lrs = [g["initial_lr"] for g in self.optimizer.param_groups]
        for gi, base in enumerate(initial_lrs):
            try:
                lr = float(self.lr_at(base, t))
            except (ArithmeticError, ValueError) as e:  # e.g. gamma ** huge overflows
                raise ValueError(f"last_epoch {t} gives no learning rate for group {gi}: {e}") from None
            if not math.isfinite(lr):
                raise ValueError(f"last_epoch {t} gives learning rate {lr} for group {gi}")
        return {"last_epoch": t}

    def load_state_dict(self, state: dict) -> None:
        state = self.validated_state(state)
        self.last_epoch = state["last_epoch"]
        self._apply()


class StepLR(LRScheduler):
    """lr = base * gamma ** (t // step_size)."""

    def __init__(self, optimizer, step_size, gamma=0.1) -> None:
        if index(step_size, "step_size") <= 0:
            raise ValueError(f"StepLR step_size must be positive, got {step_size}")
        self.step_size, self.gamma = int(step_size), _finite(gamma, "gamma", 0.0)
        super().__init__(optimizer)

    def lr_at(self, base_lr, t):
        return base_lr * self.gamma ** (t // self.step_size)


class MultiStepLR(LRScheduler):
    """lr = base * gamma ** (number of milestones <= t)."""

    def __init__(self, optimizer, milestones, gamma=0.1) -> None:
        self.milestones = sorted(index(m, "milestones") for m in milestones)
        self.gamma = _finite(gamma, "gamma", 0.0)
        super().__init__(optimizer)

    def lr_at(self, base_lr, t):
        return base_lr * self.gamma ** sum(1 for m in self.milestones if m <= t)


class CosineAnnealingLR(LRScheduler):
    """lr = eta_min + (base - eta_min) * (1 + cos(pi * t / T_max)) / 2, t clamped to T_max."""

    def __init__(self, optimizer, T_max, eta_min=0.0) -> None:
        if index(T_max, "T_max") <= 0:
            raise ValueError(f"CosineAnnealingLR T_max must be positive, got {T_max}")
        self.T_max, self.eta_min = int(T_max), _finite(eta_min, "eta_min", 0.0)
        super().__init__(optimizer)

    def lr_at(self, base_lr, t):
        t = min(t, self.T_max)
        return self.eta_min + (base_lr - self.eta_min) * (1 + math.cos(math.pi * t / self.T_max)) / 2


class LinearWarmupLR(LRScheduler):
    """Linear warm-up from start_factor*base to base over warmup_steps, then `after`
    (another schedule, counted from the end of warm-up) or constant."""

    def __init__(self, optimizer, warmup_steps, start_factor=0.1, after: LRScheduler | None = None) -> None:
        if index(warmup_steps, "warmup_steps") < 0:
            raise ValueError(f"warmup_steps must be >= 0, got {warmup_steps}")
        self.warmup_steps, self.after = int(warmup_steps), after
        self.start_factor = _finite(start_factor, "start_factor", 0.0)
        super().__init__(optimizer)

    def lr_at(self, base_lr, t):
        if t < self.warmup_steps:
            return base_lr * (self.start_factor + (1 - self.start_factor) * t / self.warmup_steps)
        if self.after is None:
            return base_lr
        return self.after.lr_at(base_lr, t - self.warmup_steps)
