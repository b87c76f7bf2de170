"""Module: the base of every layer and container.

A module owns float32 numpy parameters (each with its gradient), optional buffers (running
statistics), and child modules. `forward(x)` computes the output and, in training mode,
keeps what `backward` will need; `backward(grad_output)` returns the gradient with respect
to the input and *adds* the parameter gradients into `param.grad` (so a module used twice,
or a fan-out, accumulates). Names follow torch.nn so that a PyTorch state_dict (as numpy
arrays) loads unchanged.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Iterator

import numpy as np

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

    def __init__(self, data, requires_grad: bool = True):
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

    Subclasses implement forward(x), backward(grad_output) and output_shape(shape), where
    shape is one sample's shape (no batch dimension), e.g. (C, H, W).
    """

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)
        # Containers set this False on a layer whose input gradient nobody will use (the
        # first layer during training), so it can skip that work.
        object.__setattr__(self, "needs_input_grad", True)

    # -- attribute registry ---------------------------------------------------------------
    def __setattr__(self, name, value):
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

    def __getattr__(self, name):
        d = self.__dict__
        for key in ("_parameters", "_buffers", "_modules"):
            if key in d and name in d[key]:
                return d[key][name]
        raise AttributeError(f"{type(self).__name__!s} has no attribute {name!r}")

    def __delattr__(self, name):
        for d in (self._parameters, self._buffers, self._modules):
            if name in d:
                del d[name]
                return
        object.__delattr__(self, name)

    def register_buffer(self, name: str, value) -> None:
        """A named non-trainable array saved in state_dict (None = absent)."""
        self.__dict__.pop(name, None)
        self._buffers[name] = value

    def add_module(self, name: str, module: "Module") -> None:
        if not isinstance(module, Module):
            raise TypeError(f"add_module({name!r}): expected a Module, got {type(module).__name__}")
        if not name or "." in name:
            raise ValueError(f"module name must be non-empty and without '.', got {name!r}")
        self._modules[name] = module

    # -- computation ----------------------------------------------------------------------
    def forward(self, x):
        raise NotImplementedError(f"{type(self).__name__}.forward")

    def backward(self, grad_output):
        raise NotImplementedError(f"{type(self).__name__}.backward")

    def _backward_chained(self, grad_output, *, grad_is_scratch: bool, result_is_scratch: bool):
        """backward as a container (Sequential) calls it. grad_is_scratch: nobody else holds
        grad_output, so the layer may overwrite it. result_is_scratch: the caller consumes
        the result before this layer's next backward, so the layer may return a buffer it
        reuses across steps. Layers that can use neither just run backward."""
        return self.backward(grad_output)

    def output_shape(self, input_shape: tuple) -> tuple:
        """Shape of one output sample given one input sample's shape (no batch dim)."""
        raise NotImplementedError(f"{type(self).__name__}.output_shape")

    def __call__(self, x):
        return self.forward(x)

    def _shape_error(self, input_shape, why: str) -> ValueError:
        return ValueError(f"{self!r}: input of shape {tuple(input_shape)} (per sample): {why}")

    def _need_param_grad_deep(self) -> bool:
        """Does this module (or a child) hold a parameter that wants a gradient?"""
        return any(p.requires_grad for p in self.parameters())

    # -- traversal ------------------------------------------------------------------------
    def children(self) -> Iterator["Module"]:
        return iter(self._modules.values())

    def named_children(self):
        return iter(self._modules.items())

    def named_modules(self, prefix: str = ""):
        yield prefix, self
        for name, m in self._modules.items():
            yield from m.named_modules(f"{prefix}.{name}" if prefix else name)

    def modules(self):
        for _, m in self.named_modules():
            yield m

    def named_parameters(self, prefix: str = ""):
        """(dotted name, Parameter) pairs, each parameter once, in registration order."""
        seen = set()
        for mname, m in self.named_modules(prefix):
            for pname, p in m._parameters.items():
                if p is None or id(p) in seen:
                    continue
                seen.add(id(p))
                yield (f"{mname}.{pname}" if mname else pname), p

    def parameters(self):
        for _, p in self.named_parameters():
            yield p

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
        for m in self.modules():
            object.__setattr__(m, "training", bool(mode))
        return self

    def eval(self) -> "Module":
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> "Module":
        """Freeze (False) or unfreeze every parameter of this module and its children."""
        for p in self.parameters():
            p.requires_grad = bool(requires_grad)
        return self

    def zero_grad(self) -> None:
        """Forget gradients (set to None; the next backward writes fresh ones)."""
        for p in self.parameters():
            p.grad = None

    def num_parameters(self, trainable_only: bool = False) -> int:
        return int(sum(p.data.size for p in self.parameters() if p.requires_grad or not trainable_only))

    # -- state ----------------------------------------------------------------------------
    def _state_items(self, prefix: str = ""):
        # PyTorch order: a module's own parameters, then its buffers, then its children.
        for name, p in self._parameters.items():
            if p is not None:
                yield prefix + name, p.data
        for name, b in self._buffers.items():
            if b is not None:
                yield prefix + name, b
        for name, m in self._modules.items():
            yield from m._state_items(prefix + name + ".")

    def state_dict(self) -> "OrderedDict[str, np.ndarray]":
        """Copies of every parameter and buffer under PyTorch's keys and layouts
        (conv weight (K, C/groups, R, S), linear weight (out, in), ...)."""
        return OrderedDict((k, v.numpy() if on_device(v) else np.array(v, copy=True))
                           for k, v in self._state_items())

    def load_state_dict(self, state_dict, strict: bool = True):
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
