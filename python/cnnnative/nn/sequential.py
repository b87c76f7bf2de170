"""Sequential: a chain of modules, named "0", "1", ... as in torch.nn.Sequential."""
from __future__ import annotations

from collections import OrderedDict

import numpy as np

from .module import Module

__all__ = ["Sequential"]


class Sequential(Module):
    """Runs its modules in order; backward runs them in reverse.

    Sequential(m0, m1, ...) or Sequential(OrderedDict(name=module, ...)).
    """

    def __init__(self, *modules):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], OrderedDict):
            for name, m in modules[0].items():
                self.add_module(name, m)
        else:
            for i, m in enumerate(modules):
                self.add_module(str(i), m)

    def append(self, module: Module) -> "Sequential":
        self.add_module(str(len(self._modules)), module)
        return self

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __getitem__(self, index):
        mods = list(self._modules.values())
        if isinstance(index, slice):
            return Sequential(*mods[index])
        return mods[index]

    def output_shape(self, input_shape):
        shape = tuple(input_shape)
        for name, m in self._modules.items():
            try:
                shape = tuple(m.output_shape(shape))
            except ValueError as e:
                raise ValueError(f"Sequential layer {name} ({type(m).__name__}): {e}") from None
        return shape

    def forward(self, x):
        for m in self._modules.values():
            x = m.forward(x)
        return x

    def backward(self, grad_output):
        mods = list(self._modules.values())
        # When nobody wants our input gradient, layers before the first trainable one
        # (a frozen feature extractor) need no backward at all.
        first = 0
        if not self.needs_input_grad:
            first = next((i for i, m in enumerate(mods) if m._need_param_grad_deep()), len(mods))
        # Gradients passed between layers are scratch: each is made by one layer's backward
        # and consumed by the next, so layers may overwrite them (in-place ReLU backward) or
        # return reused buffers (MaxPool2d). Never the caller's grad_output (or a view of it
        # that a layer passed through), and never what we return.
        g = grad_output
        reused = []  # results that may be buffers a layer reuses next step
        for i in range(len(mods) - 1, first - 1, -1):
            m = mods[i]
            m.needs_input_grad = i > first or self.needs_input_grad
            scratch = g is not grad_output and not (
                isinstance(g, np.ndarray) and np.may_share_memory(g, grad_output))
            g = m._backward_chained(g, grad_is_scratch=scratch, result_is_scratch=i > first)
            if i > first and isinstance(g, np.ndarray):
                reused.append(g)
        if not self.needs_input_grad:
            return None
        if isinstance(g, np.ndarray) and any(np.may_share_memory(g, r) for r in reused):
            g = g.copy()  # a pass-through layer handed back a reused buffer: the caller keeps it
        return g
