"""SGD with momentum / Nesterov / weight decay / gradient clipping, parameter groups, and
learning-rate schedules (step, multi-step, cosine, linear warm-up).

The update of each parameter is one fused core call (ops.sgd_step), in place; Python only
walks the list of parameters.
"""
from __future__ import annotations

import math

import numpy as np

from . import ops
from .nn.module import Module, Parameter
from .ops._args import finite as _finite, index

__all__ = ["SGD", "clip_grad_norm_", "LRScheduler", "StepLR", "MultiStepLR", "CosineAnnealingLR",
           "LinearWarmupLR"]

_HYPER = ("lr", "momentum", "dampening", "weight_decay", "nesterov")


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



def _checked_hyper(g, where):
    """SGD hyper-parameters of one group, converted and range-checked (PyTorch's rules)."""
    out = {k: _finite(g[k], f"{where}: {k}", 0.0) for k in ("lr", "momentum", "weight_decay")}
    out["dampening"] = _finite(g["dampening"], f"{where}: dampening")
    if not isinstance(g["nesterov"], (bool, np.bool_)):
        raise TypeError(f"{where}: nesterov must be a bool, got {g['nesterov']!r}")
    out["nesterov"] = bool(g["nesterov"])
    if out["nesterov"] and (out["momentum"] <= 0 or out["dampening"] != 0):
        raise ValueError(f"{where}: Nesterov needs momentum > 0 and dampening 0")
    return out


def _count(value, name):
    """A non-negative int from saved state (a JSON number that is an integer)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    return int(value)


def _empty_like(a):
    """Uninitialised buffer beside a parameter: numpy, or GPU memory for a cuda Tensor."""
    if type(a).__module__ == "cnnnative._cuda":
        from . import cuda
        return cuda.empty(a.shape, device=a.device)
    return np.empty_like(a)

def _beside(buf, data):
    """A momentum buffer moved to where its parameter now lives (after model.to(...)):
    host <-> GPU, or from one GPU to another; None stays None."""
    if buf is None:
        return None
    buf_gpu, data_gpu = type(buf).__module__ == "cnnnative._cuda", type(data).__module__ == "cnnnative._cuda"
    if buf_gpu == data_gpu and (not buf_gpu or buf.device == data.device):
        return buf  # already beside it
    host = buf.numpy() if buf_gpu else buf
    if not data_gpu:
        return host
    from . import cuda
    return cuda.from_numpy(np.ascontiguousarray(host, np.float32), device=data.device)


class SGD:
    """Stochastic gradient descent, PyTorch's semantics (torch.optim.SGD):

        g = grad + weight_decay * p
        buf = g (first step) | momentum * buf + (1 - dampening) * g
        g = g + momentum * buf (nesterov) | buf
        p -= lr * g

    params: Parameters, a Module, or a list of dicts {"params": [...], "lr": ...} (groups;
    a group's missing options take the defaults given here). max_grad_norm clips the
    global gradient norm before each step.
    """

    def __init__(self, params, lr=0.01, momentum=0.0, dampening=0.0, weight_decay=0.0,
                 nesterov=False, max_grad_norm=None):
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening,
                        weight_decay=weight_decay, nesterov=nesterov)
        if isinstance(params, Module):
            params = list(params.parameters())
        params = list(params)
        if not params:
            raise ValueError("SGD got an empty parameter list")
        if not isinstance(params[0], dict):
            params = [{"params": params}]
        self.param_groups = []
        seen = set()
        for gi, group in enumerate(params):
            unknown = set(group) - set(_HYPER) - {"params"}
            if unknown:
                raise ValueError(f"SGD param group {gi}: unknown options {sorted(unknown)}")
            ps = group["params"]
            ps = list(ps.parameters()) if isinstance(ps, Module) else list(ps)
            for p in ps:
                if not isinstance(p, Parameter):
                    raise TypeError(f"SGD param group {gi}: expected Parameters, got {type(p).__name__}")
                if id(p) in seen:
                    raise ValueError(f"SGD param group {gi}: a parameter appears in more than one group")
                seen.add(id(p))
            g = _checked_hyper({**defaults, **{k: v for k, v in group.items() if k != "params"}},
                               f"SGD group {gi}")
            g["params"] = ps
            g["initial_lr"] = g["lr"]
            self.param_groups.append(g)
        self.max_grad_norm = None if max_grad_norm is None else _finite(max_grad_norm, "max_grad_norm", 0.0,
                                                                      positive=True)
        self.momentum_buffers: dict[int, np.ndarray] = {}  # key: parameter's position
        self.step_count = 0

    def _all_params(self):
        for g in self.param_groups:
            yield from g["params"]

    def zero_grad(self) -> None:
        """Forget gradients (the next backward writes fresh arrays)."""
        for p in self._all_params():
            p.grad = None

    def step(self) -> None:
        """Apply one update to every parameter that has a gradient and is not frozen."""
        if self.max_grad_norm is not None:
            clip_grad_norm_(list(self._all_params()), self.max_grad_norm)
        k = -1
        for g in self.param_groups:
            for p in g["params"]:
                k += 1
                if p.grad is None or not p.requires_grad:
                    continue
                buf = None
                first = False
                if g["momentum"] != 0.0:
                    buf = _beside(self.momentum_buffers.get(k), p.data)
                    self.momentum_buffers[k] = buf
                    if buf is None:
                        buf = self.momentum_buffers[k] = _empty_like(p.data)
                        first = True
                ops.sgd_step(p.data, p.grad, buf, lr=g["lr"], momentum=g["momentum"],
                             dampening=g["dampening"], weight_decay=g["weight_decay"],
                             nesterov=g["nesterov"], first_step=first)
        self.step_count += 1

    # -- checkpoint state -----------------------------------------------------------------
    def state_dict(self) -> dict:
        """{"step_count", "param_groups": [hyper-parameters + number of params],
        "momentum_buffers": {position: array}} (arrays copied)."""
        return {
            "step_count": self.step_count,
            "param_groups": [{**{k: g[k] for k in _HYPER}, "initial_lr": g["initial_lr"],
                              "num_params": len(g["params"])} for g in self.param_groups],
            "momentum_buffers": {k: (v.numpy() if type(v).__module__ == "cnnnative._cuda" else v.copy())
                                 for k, v in self.momentum_buffers.items()},
        }

    def validated_state(self, state: dict) -> dict:
        """state (as from state_dict or a checkpoint) checked against this optimizer and
        normalised; ValueError/TypeError naming the field, nothing modified."""
        if not isinstance(state, dict):
            raise TypeError(f"optimizer state must be a dict, got {type(state).__name__}")
        for key in ("param_groups", "step_count", "momentum_buffers"):
            if key not in state:
                raise ValueError(f"optimizer state has no {key!r}")
        groups = state["param_groups"]
        if not isinstance(groups, list) or len(groups) != len(self.param_groups):
            n = len(groups) if isinstance(groups, list) else type(groups).__name__
            raise ValueError(f"optimizer state has {n} parameter groups, this optimizer "
                             f"has {len(self.param_groups)}")
        checked = []
        for gi, (src, dst) in enumerate(zip(groups, self.param_groups)):
            where = f"param_groups[{gi}]"
            if not isinstance(src, dict):
                raise TypeError(f"{where} must be a dict, got {type(src).__name__}")
            missing = [k for k in (*_HYPER, "num_params") if k not in src]
            if missing:
                raise ValueError(f"{where} has no {missing}")
            if _count(src["num_params"], f"{where}.num_params") != len(dst["params"]):
                raise ValueError(f"optimizer state group {gi} has {src['num_params']} parameters, "
                                 f"this optimizer's has {len(dst['params'])}")
            g = _checked_hyper(src, where)
            g["initial_lr"] = _finite(src.get("initial_lr", src["lr"]), f"{where}.initial_lr", 0.0)
            checked.append(g)
        shapes = [p.data.shape for p in self._all_params()]
        buffers = {}
        if not isinstance(state["momentum_buffers"], dict):
            raise TypeError("momentum_buffers must be a dict")
        for k, v in state["momentum_buffers"].items():
            k = _count(int(k) if isinstance(k, str) and k.isdigit() else k, "momentum buffer index")
            v = np.asarray(v)
            if not k < len(shapes) or v.shape != shapes[k] or v.dtype != np.float32:
                raise ValueError(f"momentum buffer {k}: shape {v.shape} dtype {v.dtype} does not "
                                 f"match parameter {shapes[k] if k < len(shapes) else '(none)'}")
            buffers[k] = v
        max_norm = state.get("max_grad_norm", self.max_grad_norm)
        if max_norm is not None:
            max_norm = _finite(max_norm, "max_grad_norm", 0.0, positive=True)
        return {"param_groups": checked, "momentum_buffers": buffers,
                "step_count": _count(state["step_count"], "step_count"), "max_grad_norm": max_norm,
                "_validated": True}

    def load_state_dict(self, state: dict) -> None:
        """Restore state_dict() output; everything is checked before anything changes."""
        if not state.get("_validated"):
            state = self.validated_state(state)
        for src, dst in zip(state["param_groups"], self.param_groups):
            dst.update(src)
        self.momentum_buffers = {k: np.array(v, dtype=np.float32, copy=True)
                                 for k, v in state["momentum_buffers"].items()}
        self.step_count = state["step_count"]


class LRScheduler:
    """Sets each group's lr from its initial lr and the schedule position. Call step()
    once per epoch (or per iteration, consistently); position 0 is the start."""

    def __init__(self, optimizer: SGD):
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

    def __init__(self, optimizer, step_size, gamma=0.1):
        if index(step_size, "step_size") <= 0:
            raise ValueError(f"StepLR step_size must be positive, got {step_size}")
        self.step_size, self.gamma = int(step_size), _finite(gamma, "gamma", 0.0)
        super().__init__(optimizer)

    def lr_at(self, base_lr, t):
        return base_lr * self.gamma ** (t // self.step_size)


class MultiStepLR(LRScheduler):
    """lr = base * gamma ** (number of milestones <= t)."""

    def __init__(self, optimizer, milestones, gamma=0.1):
        self.milestones = sorted(index(m, "milestones") for m in milestones)
        self.gamma = _finite(gamma, "gamma", 0.0)
        super().__init__(optimizer)

    def lr_at(self, base_lr, t):
        return base_lr * self.gamma ** sum(1 for m in self.milestones if m <= t)


class CosineAnnealingLR(LRScheduler):
    """lr = eta_min + (base - eta_min) * (1 + cos(pi * t / T_max)) / 2, t clamped to T_max."""

    def __init__(self, optimizer, T_max, eta_min=0.0):
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

    def __init__(self, optimizer, warmup_steps, start_factor=0.1, after: LRScheduler | None = None):
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
