"""SGD with momentum / Nesterov / weight decay and optional gradient clipping; the one
optimizer with a CUDA kernel too. Its state keeps the format of the first release
(momentum_buffers by parameter position), so older checkpoints load unchanged."""
from __future__ import annotations

import numpy as np

from .. import ops
from ..ops._args import finite
from .clip import clip_grad_norm_
from .optimizer import Optimizer, count, flag, on_gpu, state_index

__all__ = ["SGD"]


def _empty_like(a):
    """Uninitialised buffer beside a parameter: numpy, or GPU memory for a cuda Tensor."""
    if on_gpu(a):
        from .. import cuda
        return cuda.empty(a.shape, device=a.device)
    return np.empty_like(a)


def _beside(buf, data):
    """A momentum buffer moved to where its parameter now lives (after model.to(...)):
    host <-> GPU, or from one GPU to another; None stays None."""
    if buf is None:
        return None
    buf_gpu, data_gpu = on_gpu(buf), on_gpu(data)
    if buf_gpu == data_gpu and (not buf_gpu or buf.device == data.device):
        return buf  # already beside it
    host = buf.numpy() if buf_gpu else buf
    if not data_gpu:
        return host
    from .. import cuda
    return cuda.from_numpy(np.ascontiguousarray(host, np.float32), device=data.device)


class SGD(Optimizer):
    """Stochastic gradient descent, PyTorch's semantics (torch.optim.SGD):

        g = grad + weight_decay * p
        buf = g (first step) | momentum * buf + (1 - dampening) * g
        g = g + momentum * buf (nesterov) | buf
        p -= lr * g

    params: Parameters, a Module, or a list of dicts {"params": [...], "lr": ...} (groups;
    a group's missing options take the defaults given here). max_grad_norm clips the
    global gradient norm before each step.
    """

    _HYPER = ("lr", "momentum", "dampening", "weight_decay", "nesterov")

    def __init__(self, params, lr=0.01, momentum=0.0, dampening=0.0, weight_decay=0.0,
                 nesterov=False, max_grad_norm=None) -> None:
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov))
        self.max_grad_norm = None if max_grad_norm is None else finite(max_grad_norm, "max_grad_norm", 0.0,
                                                                     positive=True)
        self.momentum_buffers: dict = {}  # key: parameter's position

    def _checked_hyper(self, g, where):
        """SGD hyper-parameters of one group, converted and range-checked (PyTorch's rules)."""
        out = {k: finite(g[k], f"{where}: {k}", 0.0) for k in ("lr", "momentum", "weight_decay")}
        out["dampening"] = finite(g["dampening"], f"{where}: dampening")
        out["nesterov"] = flag(g["nesterov"], f"{where}: nesterov")
        if out["nesterov"] and (out["momentum"] <= 0 or out["dampening"] != 0):
            raise ValueError(f"{where}: Nesterov needs momentum > 0 and dampening 0")
        return out

    def step(self, closure=None):
        """Apply one update to every parameter that has a gradient and is not frozen."""
        loss = None if closure is None else closure()
        if self.max_grad_norm is not None:
            clip_grad_norm_(list(self._all_params()), self.max_grad_norm)
        for k, g, p in self._stepped():
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
        return loss

    # -- checkpoint state -----------------------------------------------------------------
    def state_dict(self) -> dict:
        """{"class", "step_count", "param_groups": [hyper-parameters + number of params],
        "momentum_buffers": {position: array}} (arrays copied)."""
        return {
            "class": type(self).__name__,
            "step_count": self.step_count,
            "param_groups": [{**{k: g[k] for k in self._HYPER}, "initial_lr": g["initial_lr"],
                              "num_params": len(g["params"])} for g in self.param_groups],
            "momentum_buffers": {k: (v.numpy() if on_gpu(v) else v.copy())
                                 for k, v in self.momentum_buffers.items()},
        }

    def validated_state(self, state: dict) -> dict:
        """state (as from state_dict or a checkpoint) checked against this optimizer and
        normalised; ValueError/TypeError naming the field, nothing modified."""
        if not isinstance(state, dict):
            raise TypeError(f"optimizer state must be a dict, got {type(state).__name__}")
        self._checked_class(state)
        for key in ("param_groups", "step_count", "momentum_buffers"):
            if key not in state:
                raise ValueError(f"optimizer state has no {key!r}")
        checked = self._checked_groups(state)
        shapes = [p.data.shape for p in self._all_params()]
        buffers = {}
        if not isinstance(state["momentum_buffers"], dict):
            raise TypeError("momentum_buffers must be a dict")
        for k, v in state["momentum_buffers"].items():
            k = state_index(k, len(shapes))
            v = np.asarray(v)
            if v.shape != shapes[k] or v.dtype != np.float32:
                raise ValueError(f"momentum buffer {k}: shape {v.shape} dtype {v.dtype} does not "
                                 f"match parameter {shapes[k]}")
            buffers[k] = v
        max_norm = state.get("max_grad_norm", self.max_grad_norm)
        if max_norm is not None:
            max_norm = finite(max_norm, "max_grad_norm", 0.0, positive=True)
        return {"param_groups": checked, "momentum_buffers": buffers,
                "step_count": count(state["step_count"], "step_count"), "max_grad_norm": max_norm,
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
