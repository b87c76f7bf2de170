"""The machinery every optimizer shares: parameter groups with per-group options, zero_grad,
the walk over the parameters that get a step, per-parameter state, and state_dict /
load_state_dict validated before anything changes.

A subclass names its group options (`_HYPER`), checks them (`_checked_hyper`), says which
state buffers a group needs (`_buffers`) and does one parameter's update (`_update`, one
fused core call). SGD keeps its own state format (momentum_buffers, see sgd.py).
"""
from __future__ import annotations

import numpy as np

from ..nn.module import Module
from ..tensor import Tensor
from ..ops._args import finite

__all__ = ["Optimizer"]


def count(value, name):
    """A non-negative int from saved state (a JSON number that is an integer), small enough
    for the core's int64 step counters."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 0 <= value < 2 ** 62:
        raise ValueError(f"{name} must be a non-negative integer below 2**62, got {value!r:.80}")
    return int(value)


def state_index(key, n_params):
    """A parameter position from a state key (an int, or its decimal string from JSON)."""
    k = count(int(key) if isinstance(key, str) and key.isdigit() else key, "optimizer state index")
    if k >= n_params:
        raise ValueError(f"optimizer state index {k}: this optimizer has only {n_params} parameters")
    return k


def on_gpu(a) -> bool:
    return type(a).__module__ == "cnnnative._cuda"


def beta(value, name):
    """A coefficient in [0, 1) (Adam's betas)."""
    v = finite(value, name, 0.0)
    if v >= 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {v}")
    return v


def flag(value, name):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool, got {value!r:.80}")
    return bool(value)


def _group_params(ps, where):
    if isinstance(ps, Module):
        return list(ps.parameters())
    if isinstance(ps, Tensor):
        return [ps]
    if isinstance(ps, (str, bytes, dict)) or not hasattr(ps, "__iter__"):
        raise TypeError(f"{where}: params must be Parameters, a Module or an iterable of them, "
                        f"got {type(ps).__name__}")
    return list(ps)


class Optimizer:
    """Base class: `param_groups` (list of dicts: "params" plus the options, "initial_lr"
    for schedules), `state` ({parameter position: {"step": int, buffer name: array}}),
    `step_count` (calls of step())."""

    _HYPER: tuple = ()          # names of a group's options
    _BUFFER_NAMES: tuple = ()   # every state buffer this optimizer may keep

    def __init__(self, params, defaults: dict) -> None:
        name = type(self).__name__
        self.defaults = self._checked_hyper(dict(defaults), name)
        if isinstance(params, (Module, Tensor)):
            params = _group_params(params, name)
        elif isinstance(params, (str, bytes, dict)) or not hasattr(params, "__iter__"):
            raise TypeError(f"{name}: params must be Parameters, a Module or a list of parameter-group "
                            f"dicts, got {type(params).__name__}")
        params = list(params)
        if not params:
            raise ValueError(f"{name} got an empty parameter list")
        if not isinstance(params[0], dict):
            params = [{"params": params}]
        self.param_groups = []
        for group in params:
            self.add_param_group(group)
        self.state: dict[int, dict] = {}
        self.step_count = 0

    def add_param_group(self, group: dict) -> None:
        """Add a group {"params": [...], option: value, ...} (e.g. layers unfrozen while
        fine-tuning); its missing options take the constructor's defaults."""
        name, gi = type(self).__name__, len(self.param_groups)
        where = f"{name} param group {gi}"
        if not isinstance(group, dict):
            raise TypeError(f"{where}: expected a dict, got {type(group).__name__}")
        if "params" not in group:
            raise ValueError(f"{where}: has no 'params'")
        unknown = set(group) - set(self._HYPER) - {"params"}
        if unknown:
            raise ValueError(f"{where}: unknown options {sorted(unknown)}")
        ps = _group_params(group["params"], where)
        seen = {id(p) for p in self._all_params()}
        for p in ps:  # Parameters, or any leaf Tensor (an input being optimised)
            if not isinstance(p, Tensor):
                raise TypeError(f"{where}: expected Parameters (or leaf Tensors), got {type(p).__name__}")
            if not p.is_leaf:
                raise ValueError(f"{where}: can't optimize a non-leaf Tensor (the result of an op); "
                                 "optimize the leaf it was computed from, or detach() it")
            if id(p) in seen:
                raise ValueError(f"{where}: a parameter appears more than once "
                                 "(in more than one group, or twice in one)")
            seen.add(id(p))
        g = self._checked_hyper({**self.defaults, **{k: v for k, v in group.items() if k != "params"}},
                                f"{name} group {gi}")
        g["params"] = ps
        g["initial_lr"] = g["lr"]
        self.param_groups.append(g)

    # -- what a subclass provides -------------------------------------------------------------
    def _checked_hyper(self, group: dict, where: str) -> dict:
        """The group's options converted and range-checked (errors name where and the option)."""
        raise NotImplementedError

    def _buffers(self, group: dict) -> dict:
        """{buffer name: initial fill value} of the state a parameter of this group needs."""
        raise NotImplementedError

    def _update(self, param, grad, state: dict, group: dict, step: int) -> None:
        """One step of one parameter, in place (step counts from 1)."""
        raise NotImplementedError

    # -- shared ---------------------------------------------------------------------------------
    def _all_params(self):
        for g in self.param_groups:
            yield from g["params"]

    def _stepped(self):
        """(position, group, parameter) of each parameter that gets a step: it has a gradient
        and is not frozen."""
        k = -1
        for g in self.param_groups:
            for p in g["params"]:
                k += 1
                if p.grad is not None and p.requires_grad:
                    yield k, g, p

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget gradients: set them to None (the next backward writes fresh arrays), or with
        set_to_none=False fill the existing gradient arrays with zeros in place."""
        for p in self._all_params():
            if set_to_none or p.grad is None:
                p.grad = None
            elif isinstance(p.grad, np.ndarray) and p.grad.flags.writeable:
                p.grad.fill(0.0)
            elif on_gpu(p.grad):
                from .. import cuda
                p.grad = cuda.zeros(p.grad.shape, device=p.grad.device)
            else:
                p.grad = np.zeros(np.shape(p.grad), np.float32)

    def step(self, closure=None):
        """Update every parameter that has a gradient and is not frozen (each one fused core
        call). closure: optional callable that recomputes the loss, called first; its value
        is returned."""
        loss = None if closure is None else closure()
        name = type(self).__name__
        work = list(self._stepped())
        for k, _, p in work:  # checked before any parameter changes
            if on_gpu(p.data) or on_gpu(p.grad):
                raise NotImplementedError(
                    f"{name}: parameter {k} {tuple(p.data.shape)} is on a GPU and {name} has no CUDA "
                    "kernel (SGD has one); keep the model on the CPU for this optimizer")
            if tuple(np.shape(p.grad)) != tuple(p.data.shape):
                raise ValueError(f"{name}: parameter {k} has shape {tuple(p.data.shape)} but its grad has "
                                 f"shape {tuple(np.shape(p.grad))}")
        for k, g, p in work:
            st = self.state.get(k)
            if st is None:
                st = self.state[k] = {"step": 0}
            for buf, fill in self._buffers(g).items():
                if buf not in st:  # first step, or an option turned on since
                    st[buf] = np.full(p.data.shape, fill, np.float32)
            self._update(p.data, p.grad, st, g, st["step"] + 1)
            st["step"] += 1
        self.step_count += 1
        return loss

    # -- checkpoint state -----------------------------------------------------------------------
    def state_dict(self) -> dict:
        """{"class", "step_count", "param_groups": [options, "initial_lr", "num_params"],
        "state": {position: {"step": int, buffer name: array}}} (arrays copied)."""
        return {
            "class": type(self).__name__,
            "step_count": self.step_count,
            "param_groups": [{**{k: g[k] for k in self._HYPER}, "initial_lr": g["initial_lr"],
                              "num_params": len(g["params"])} for g in self.param_groups],
            "state": {k: {n: (v.copy() if isinstance(v, np.ndarray) else v) for n, v in st.items()}
                      for k, st in self.state.items()},
        }

    def _checked_class(self, state):
        # Checkpoints written before other optimizers existed hold SGD state and no class.
        saved = state.get("class", "SGD")
        if saved != type(self).__name__:
            raise ValueError(f"optimizer state is {saved}'s, this optimizer is {type(self).__name__}")

    def _checked_groups(self, state):
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
            missing = [k for k in (*self._HYPER, "num_params") if k not in src]
            if missing:
                raise ValueError(f"{where} has no {missing}")
            if count(src["num_params"], f"{where}.num_params") != len(dst["params"]):
                raise ValueError(f"optimizer state group {gi} has {src['num_params']} parameters, "
                                 f"this optimizer's has {len(dst['params'])}")
            g = self._checked_hyper({k: src[k] for k in self._HYPER}, where)
            g["initial_lr"] = finite(src.get("initial_lr", src["lr"]), f"{where}.initial_lr", 0.0)
            checked.append(g)
        return checked

    def validated_state(self, state: dict) -> dict:
        """state (as from state_dict or a checkpoint) checked against this optimizer and
        normalised; ValueError/TypeError naming the field, nothing modified."""
        if not isinstance(state, dict):
            raise TypeError(f"optimizer state must be a dict, got {type(state).__name__}")
        self._checked_class(state)
        for key in ("param_groups", "step_count", "state"):
            if key not in state:
                raise ValueError(f"optimizer state has no {key!r}")
        groups = self._checked_groups(state)
        params = list(self._all_params())
        group_of = [groups[gi] for gi, dst in enumerate(self.param_groups) for _ in dst["params"]]
        if not isinstance(state["state"], dict):
            raise TypeError(f"optimizer state 'state' must be a dict, got {type(state['state']).__name__}")
        per_param = {}
        for key, entry in state["state"].items():
            k = state_index(key, len(params))
            where = f"state[{k}]"
            if not isinstance(entry, dict):
                raise TypeError(f"{where} must be a dict, got {type(entry).__name__}")
            if "step" not in entry:
                raise ValueError(f"{where} has no 'step'")
            out = {"step": count(entry["step"], f"{where}.step")}
            unknown = sorted(set(entry) - {"step"} - set(self._BUFFER_NAMES))
            if unknown:
                raise ValueError(f"{where}: unknown state {unknown} for {type(self).__name__} "
                                 f"(expected {list(self._BUFFER_NAMES)})")
            missing = sorted(set(self._buffers(group_of[k])) - set(entry))
            if missing:
                raise ValueError(f"{where} lacks {missing}, which its group's options need")
            shape = tuple(params[k].data.shape)
            for n in sorted(set(entry) - {"step"}):
                v = entry[n]
                if on_gpu(v):
                    v = v.numpy()
                v = np.asarray(v)
                if v.dtype != np.float32 or v.shape != shape:
                    raise ValueError(f"{where}.{n}: {v.dtype}{list(v.shape)} does not match parameter {k} "
                                     f"(float32{list(shape)})")
                out[n] = v
            per_param[k] = out
        return {"class": type(self).__name__, "param_groups": groups, "state": per_param,
                "step_count": count(state["step_count"], "step_count"), "_validated": True}

    def load_state_dict(self, state: dict) -> None:
        """Restore state_dict() output; everything is checked before anything changes."""
        if not state.get("_validated"):
            state = self.validated_state(state)
        for src, dst in zip(state["param_groups"], self.param_groups):
            dst.update(src)
        self.state = {k: {n: (np.array(v, dtype=np.float32, copy=True) if n != "step" else v)
                          for n, v in st.items()} for k, st in state["state"].items()}
        self.step_count = state["step_count"]
