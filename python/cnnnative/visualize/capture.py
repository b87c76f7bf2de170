"""Capture the outputs of named layers during a forward call (torch's forward hooks, as a
context manager): `with capture(model, "features.28") as cap: model(x)`, then
`cap["features.28"]` is that layer's output as it returned (a copy of its values) and
`cap.tensors["features.28"]` the recorded Tensor itself, from which autograd.grad takes the
gradient of a score with respect to the layer's output (Grad-CAM).

Layers are named as in `model.named_modules()` (dotted paths such as "layer4.1.conv2").
The hook is an instance attribute `forward` wrapping the class's forward for the duration
of the block, the way compile()'s tracer tells which layer runs.
"""
from __future__ import annotations

import contextlib

import numpy as np

__all__ = ["capture", "Captured", "find_module"]


def find_module(model, name: str):
    """The submodule of `model` named `name` (a dotted path of named_modules()); ValueError
    listing the names there are when there is none."""
    if not isinstance(name, str):
        raise TypeError(f"layer name must be a string, got {type(name).__name__}")
    modules = dict(model.named_modules())
    if name not in modules:
        names = [n for n in modules if n]
        shown = ", ".join(names[:40]) + (", ..." if len(names) > 40 else "")
        raise ValueError(f"layer {name!r} is not a module of {type(model).__name__}; its layers: {shown}")
    return modules[name]


class Captured(dict):
    """name -> numpy copy of the layer's (first) output during the block; `tensors`:
    name -> the output object itself (a recording Tensor when the call recorded)."""

    def __init__(self):
        super().__init__()
        self.tensors = {}


def _values(out):
    first = out[0] if isinstance(out, (tuple, list)) else out
    return np.array(np.asarray(first), dtype=np.float32, copy=True)


@contextlib.contextmanager
def capture(model, names):
    """Within the block, every call of the named layers stores its output (the last call
    wins). names: one name or a list of names. Yields a `Captured` dict."""
    if isinstance(names, str):
        names = [names]
    result = Captured()
    patched = []
    try:
        for name in names:
            module = find_module(model, name)
            inner = module.__dict__.get("forward", module.forward)  # already wrapped: wrap that

            def forward(*args, _inner=inner, _name=name, **kwargs):
                out = _inner(*args, **kwargs)
                result.tensors[_name] = out
                result[_name] = _values(out)
                return out
            patched.append((module, "forward" in module.__dict__, inner))
            module.__dict__["forward"] = forward
        yield result
    finally:
        for module, had, inner in reversed(patched):
            if had:
                module.__dict__["forward"] = inner
            else:
                module.__dict__.pop("forward", None)
