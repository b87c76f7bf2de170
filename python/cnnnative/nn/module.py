"""Module: the base of every layer and container.

A module owns parameters (leaf `Tensor`s: float32 `data`, `grad`), optional buffers
(running statistics) and child modules. `forward` is written with `cnnnative.ops` calls
on its parameters, so autograd records it: `loss = f(model(x)); loss.backward()` fills
every parameter's `.grad` (accumulating across uses: a module called twice or a shared
parameter gets the sum). No module writes a backward of its own. Names follow torch.nn so
that a PyTorch state_dict (as numpy arrays) loads unchanged.

Called with a numpy array and nothing to record (no_grad, or frozen parameters), a module
returns a numpy array, as the functional API does; a recording output is a `Tensor`.
"""
from __future__ import annotations

import functools
import warnings
import weakref
from collections import OrderedDict
from typing import Any, Iterator

import numpy as np

from .. import autograd
from ..tensor import Tensor

__all__ = ["Parameter", "Module"]


def on_device(a) -> bool:
    """Is `a` a cnnnative.cuda.Tensor (GPU memory) rather than a host array?"""
    return type(a).__module__ == "cnnnative._cuda"


def _move(a, device: str):
    """Host array <-> cnnnative.cuda.Tensor; float32 arrays only (counters stay on the host)."""
    if a is None:
        return None
    if device == "cpu":
        return a.numpy() if on_device(a) else a
    index = int(device.partition(":")[2] or 0)
    if on_device(a):
        # Already on a GPU: stay when it is this one, else go through the host.
        return a if a.device == index else _move(a.numpy(), device)
    if not (isinstance(a, np.ndarray) and a.dtype == np.float32):
        return a
    from .. import cuda
    return cuda.from_numpy(a, device=index)


class Parameter(Tensor):
    """A trainable float32 array (`data`) and its gradient (`grad`, None until a backward):
    a leaf Tensor, so ops on it record and `loss.backward()` fills `grad`.

    requires_grad=False freezes it: ops skip its gradient and optimizers skip it.
    """

    __slots__ = ()

    def __init__(self, data, requires_grad: bool = True) -> None:
        if isinstance(data, Tensor):
            data = data.data
        data = data if on_device(data) else np.ascontiguousarray(data, dtype=np.float32)
        super().__init__(data, requires_grad)

    def accumulate(self, g) -> None:
        """Add a gradient contribution (first one is kept without a copy)."""
        if g is None or not self.requires_grad:
            return
        if g.shape != self.data.shape:
            raise ValueError(f"gradient of shape {g.shape} for a parameter of shape {self.data.shape}")
        if self.grad is None:
            self.grad = g if on_device(g) else np.ascontiguousarray(g, dtype=np.float32)
        else:
            self.grad = self.grad + g  # cnnnative.cuda.Tensor defines + on the GPU

    def __repr__(self) -> str:
        return f"Parameter(shape={tuple(self.data.shape)}, requires_grad={self.requires_grad})"


class Module:
    """Base class: parameters, buffers, children, train/eval, state_dict.

    Subclasses implement forward(...) (with cnnnative.ops calls; autograd derives the
    backward) and, to be usable in nn.Graph and shape checks, output_shape(shape), where
    shape is one sample's shape (no batch dimension), e.g. (C, H, W).
    """

    def __init__(self) -> None:
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_non_persistent", set())
        object.__setattr__(self, "training", True)
        # Weak references to the last call's (output, input), for the deprecated backward().
        object.__setattr__(self, "_last_call", None)

    # -- attribute registry ---------------------------------------------------------------
    def __setattr__(self, name: str, value: Any) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError("call Module.__init__() before assigning attributes")
        if name in self._buffers and not isinstance(value, (Parameter, Module)):
            self._buffers[name] = value  # e.g. `self.num_batches_tracked += 1`
            return
        for d in (self._parameters, self._buffers, self._modules):
            d.pop(name, None)
        if isinstance(value, Parameter):
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
        else:
            object.__setattr__(self, name, value)
            return
        self.__dict__.pop(name, None)

    def __getattr__(self, name: str) -> Any:
        d = self.__dict__
        for key in ("_parameters", "_buffers", "_modules"):
            if key in d and name in d[key]:
                return d[key][name]
        raise AttributeError(f"{type(self).__name__!s} has no attribute {name!r}")

    def __delattr__(self, name: str) -> None:
        for d in (self._parameters, self._buffers, self._modules):
            if name in d:
                del d[name]
                return
        object.__delattr__(self, name)

    def register_buffer(self, name: str, value, persistent: bool = True) -> None:
        """A named non-trainable array (running statistics, constants), moved by `to()`.
        persistent=True saves it in state_dict; None registers the name with no value."""
        if not isinstance(name, str) or not name or "." in name:
            raise ValueError(f"buffer name must be a non-empty string without '.', got {name!r}")
        if name in self._parameters or name in self._modules:
            raise KeyError(f"register_buffer: {name!r} is already a parameter or submodule")
        if isinstance(value, Tensor):
            value = value.data
        self.__dict__.pop(name, None)
        self._buffers[name] = value
        if persistent:
            self._non_persistent.discard(name)
        else:
            self._non_persistent.add(name)

    def register_parameter(self, name: str, param) -> None:
        """Add a Parameter (or None) under `name`."""
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"register_parameter({name!r}): expected a Parameter or None, got "
                            f"{type(param).__name__}")
        if not isinstance(name, str) or not name or "." in name:
            raise ValueError(f"parameter name must be a non-empty string without '.', got {name!r}")
        self.__dict__.pop(name, None)
        self._buffers.pop(name, None)
        self._modules.pop(name, None)
        self._parameters[name] = param

    def add_module(self, name: str, module: "Module") -> None:
        if not isinstance(module, Module):
            raise TypeError(f"add_module({name!r}): expected a Module, got {type(module).__name__}")
        if not name or "." in name:
            raise ValueError(f"module name must be non-empty and without '.', got {name!r}")
        self._modules[name] = module

    # -- computation ----------------------------------------------------------------------
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__}.forward")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # Every forward notes its last recorded output for the deprecated backward(), also
        # when called as module.forward(x) (the pre-autograd idiom). Weak references only:
        # the graph must die with the caller's output.
        super().__init_subclass__(**kwargs)
        forward = cls.__dict__.get("forward")
        if forward is None or getattr(forward, "_notes_last_call", False):
            return

        @functools.wraps(forward)
        def noting_forward(self, *args, **kwargs):
            out = forward(self, *args, **kwargs)
            if type(out) is Tensor and out._node is not None:
                x = args[0] if args else None
                self.__dict__["_last_call"] = (weakref.ref(out),
                                               weakref.ref(x) if isinstance(x, Tensor) else None)
            return out

        noting_forward._notes_last_call = True
        cls.forward = noting_forward

    def backward(self, grad_output):
        """Deprecated (kept for one release; use `loss.backward()` or `autograd.grad`).

        Runs autograd backward from the output of this module's last call, with
        `grad_output` as that output's gradient: the gradients of this module's trainable
        parameters are added into their `.grad`, and the gradient with respect to the
        call's input is returned when that input was a Tensor requiring grad (else None).
        The output must still be alive (kept by the caller)."""
        warnings.warn(f"{type(self).__name__}.backward(grad_output) is deprecated: call "
                      "loss.backward() (or output.backward(grad_output)) on the module's output",
                      DeprecationWarning, stacklevel=2)
        last = self._last_call
        out = last[0]() if last is not None else None
        if out is None:
            raise RuntimeError(f"{type(self).__name__}.backward: no recorded output of this module is "
                               "alive (call it on an input in training mode and keep its output, or "
                               "use output.backward(grad))")
        x = last[1]() if last[1] is not None else None
        inputs = [x] if x is not None and x.requires_grad else []
        params = [p for p in self.parameters() if p.requires_grad]
        if not inputs and not params:
            return None
        grads = autograd.grad(out, inputs + params, grad_outputs=grad_output, allow_unused=True)
        for p, g in zip(params, grads[len(inputs):]):
            if g is not None:
                p.accumulate(g if p.grad is not None else np.array(g, dtype=np.float32, copy=True))
        return grads[0] if inputs else None

    def output_shape(self, input_shape: tuple) -> tuple:
        """Shape of one output sample given one input sample's shape (no batch dim)."""
        raise NotImplementedError(f"{type(self).__name__}.output_shape")

    def _shape_error(self, input_shape, why: str) -> ValueError:
        return ValueError(f"{self!r}: input of shape {tuple(input_shape)} (per sample): {why}")

    # -- traversal ------------------------------------------------------------------------
    def children(self) -> Iterator["Module"]:
        return iter(self._modules.values())

    def named_children(self) -> Iterator[tuple[str, Module]]:
        return iter(self._modules.items())

    def named_modules(self, prefix: str = "", _seen=None):
        """(dotted name, module) for this module and every descendant, each module once
        (a module registered under two names is listed under the first)."""
        seen = set() if _seen is None else _seen
        if id(self) in seen:
            return
        seen.add(id(self))
        yield prefix, self
        for name, m in self._modules.items():
            if m is not None:
                yield from m.named_modules(f"{prefix}.{name}" if prefix else name, seen)

    def modules(self) -> Iterator[Module]:
        for _, m in self.named_modules():
            yield m

    def named_parameters(self, prefix: str = "", recurse: bool = True) -> Iterator[tuple[str, Parameter]]:
        """(dotted name, Parameter) pairs, each parameter once, in registration order
        (recurse=False: this module's own only)."""
        seen = set()
        for mname, m in (self.named_modules(prefix) if recurse else [(prefix, self)]):
            for pname, p in m._parameters.items():
                if p is None or id(p) in seen:
                    continue
                seen.add(id(p))
                yield (f"{mname}.{pname}" if mname else pname), p

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def buffers(self, recurse: bool = True):
        for _, b in (self.named_buffers() if recurse else
                     ((n, b) for n, b in self._buffers.items() if b is not None)):
            yield b

    def apply(self, fn) -> "Module":
        """Call fn(module) on every child (recursively), then on this module; returns
        self (e.g. `model.apply(init_weights)`)."""
        for m in self._modules.values():
            m.apply(fn)
        fn(self)
        return self

    def named_buffers(self, prefix: str = ""):
        for mname, m in self.named_modules(prefix):
            for bname, b in m._buffers.items():
                if b is not None:
                    yield (f"{mname}.{bname}" if mname else bname), b

    # -- device ---------------------------------------------------------------------------
    def to(self, device: str) -> "Module":
        """Move parameters, gradients and float32 buffers to "cuda" (or "cuda:N") or back
        to "cpu", in place; returns self. On the GPU the layers run cnnnative.cuda kernels
        (cnnnative.ops dispatches on the input's device). RuntimeError with the reason when
        the CUDA backend is unavailable."""
        device = str(device)
        if device != "cpu" and not device.startswith("cuda"):
            raise ValueError(f"device must be 'cpu', 'cuda' or 'cuda:N', got {device!r}")
        if device != "cpu":
            from .. import cuda
            cuda._require()
        for m in self.modules():
            for p in m._parameters.values():
                if p is not None:
                    p.data, p.grad = _move(p.data, device), _move(p.grad, device)
            for name, b in list(m._buffers.items()):
                m._buffers[name] = _move(b, device)
        return self

    @property
    def device(self) -> str:
        """"cuda" when the parameters live on the GPU, else "cpu"."""
        return "cuda" if any(on_device(p.data) for p in self.parameters()) else "cpu"

    @property
    def device_index(self):
        """The GPU number the parameters live on (see to("cuda:N")), or None on the CPU."""
        for p in self.parameters():
            if on_device(p.data):
                return int(p.data.device)
        return None

    # -- modes ----------------------------------------------------------------------------
    def train(self, mode: bool = True) -> "Module":
        """Set training mode (True) or eval mode (False) on this module and its children.
        Layers frozen by cnnnative.finetune.freeze (keep_eval) stay in eval mode."""
        for m in self.modules():
            object.__setattr__(m, "training", bool(mode) and not m.__dict__.get("_keep_eval", False))
        return self

    def eval(self) -> "Module":
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> "Module":
        """Freeze (False) or unfreeze every parameter of this module and its children."""
        for p in self.parameters():
            p.requires_grad = bool(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget gradients: set_to_none=True sets every `.grad` to None (the next backward
        writes fresh arrays); False zeroes the existing arrays in place."""
        for p in self.parameters():
            if set_to_none or p.grad is None:
                p.grad = None
            elif on_device(p.grad):
                p.grad = _move(np.zeros(tuple(p.grad.shape), np.float32), f"cuda:{p.grad.device}")
            else:
                p.grad[...] = 0

    def num_parameters(self, trainable_only: bool = False) -> int:
        return int(sum(p.data.size for p in self.parameters() if p.requires_grad or not trainable_only))

    # -- state ----------------------------------------------------------------------------
    def _state_items(self, prefix: str = ""):
        # PyTorch order: a module's own parameters, then its buffers, then its children.
        for name, p in self._parameters.items():
            if p is not None:
                yield prefix + name, p.data
        for name, b in self._buffers.items():
            if b is not None and name not in self._non_persistent:
                yield prefix + name, b
        for name, m in self._modules.items():
            if m is not None:
                yield from m._state_items(prefix + name + ".")

    def state_dict(self) -> "OrderedDict[str, np.ndarray]":
        """Copies of every parameter and buffer under PyTorch's keys and layouts
        (conv weight (K, C/groups, R, S), linear weight (out, in), ...)."""
        return OrderedDict((k, v.numpy() if on_device(v) else np.array(v, copy=True))
                           for k, v in self._state_items())

    def load_state_dict(self, state_dict: Any, strict: bool = True) -> Any:
        """Copy arrays into this module's parameters and buffers (shapes must match).

        Values may be numpy arrays or anything np.asarray accepts (e.g. torch tensors
        after .numpy()). strict=True raises KeyError listing missing and unexpected keys.
        Returns (missing_keys, unexpected_keys).
        """
        own = OrderedDict(self._state_items())
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        if strict and (missing or unexpected):
            raise KeyError(f"load_state_dict for {type(self).__name__}: missing keys {missing}, "
                           f"unexpected keys {unexpected}")
        # Validate every shape first so a failure leaves the module untouched.
        arrays = {}
        for k, target in own.items():
            if k not in state_dict:
                continue
            try:
                v = np.asarray(state_dict[k])
            except Exception as e:
                raise TypeError(f"state_dict[{k!r}] is not array-like: {e}") from None
            if v.shape != target.shape:
                raise ValueError(f"state_dict[{k!r}] has shape {v.shape}, the module expects {target.shape}")
            if not (np.issubdtype(v.dtype, np.number) or v.dtype == np.bool_):
                raise TypeError(f"state_dict[{k!r}] has dtype {v.dtype}, expected a numeric array")
            arrays[k] = v
        for k, v in arrays.items():
            if on_device(own[k]):  # a model moved to the GPU: copy into its device memory
                from .. import cuda
                cuda._cuda.upload_into(own[k], np.ascontiguousarray(v, dtype=own[k].dtype))
            else:
                np.copyto(own[k], v, casting="unsafe")
        return missing, unexpected

    def summary(self, input_shape, *, backward: bool = True):
        """Per op of this model on one sample of `input_shape` (no batch dim, e.g.
        (3, 224, 224)): layer name, output shape, parameters, FLOPs (2 per multiply-add),
        output memory, memory kept for the backward by a training forward (backward=True:
        measured with one training-mode call, after which the model is as it was), and
        the receptive field and jump of the output; totals. Returns a dict
        (cnnnative.model_summary.ModelSummary) that prints as a table."""
        from ..model_summary import summarize
        return summarize(self, (1,) + tuple(input_shape), backward=backward)

    # -- printing -------------------------------------------------------------------------
    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        if not self._modules:
            return f"{type(self).__name__}({self.extra_repr()})"
        lines = [f"{type(self).__name__}("]
        for name, m in self._modules.items():
            sub = repr(m).replace("\n", "\n  ")
            lines.append(f"  ({name}): {sub}")
        lines.append(")")
        return "\n".join(lines)
