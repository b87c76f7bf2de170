"""Sequential: a chain of modules, named "0", "1", ... as in torch.nn.Sequential."""
from __future__ import annotations

from collections import OrderedDict

from .module import Module

__all__ = ["Sequential"]


class Sequential(Module):
    """Runs its modules in order (autograd derives the backward).

    Sequential(m0, m1, ...) or Sequential(OrderedDict(name=module, ...)).
    """

    def __init__(self, *modules) -> None:
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
            x = m(x)
        return x
