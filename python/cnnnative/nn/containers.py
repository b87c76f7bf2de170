"""ModuleList and ModuleDict: hold submodules so that their parameters, buffers, modes and
state_dict keys are registered (torch.nn names: "0", "1", ... and the dict's keys). They
have no forward: the owning module's forward decides how to call them."""
from __future__ import annotations

from collections import OrderedDict

from .module import Module

__all__ = ["ModuleList", "ModuleDict"]


def _module(m, where):
    if not isinstance(m, Module):
        raise TypeError(f"{where}: expected a Module, got {type(m).__name__}")
    return m


class ModuleList(Module):
    """A list of modules, registered under "0", "1", ... (torch.nn.ModuleList)."""

    def __init__(self, modules=None) -> None:
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def _index(self, i: int) -> int:
        n = len(self._modules)
        if not isinstance(i, int) or isinstance(i, bool):
            raise TypeError(f"ModuleList indices must be integers or slices, got {type(i).__name__}")
        if not -n <= i < n:
            raise IndexError(f"ModuleList index {i} is out of range for {n} modules")
        return i % n

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __getitem__(self, i):
        mods = list(self._modules.values())
        if isinstance(i, slice):
            return ModuleList(mods[i])
        return mods[self._index(i)]

    def __setitem__(self, i, module):
        self._modules[str(self._index(i))] = _module(module, "ModuleList[...] =")

    def __delitem__(self, i):
        mods = list(self._modules.values())
        if isinstance(i, slice):
            del mods[i]
        else:
            del mods[self._index(i)]
        self._modules.clear()
        for k, m in enumerate(mods):  # renumber, as torch does
            self._modules[str(k)] = m

    def append(self, module) -> "ModuleList":
        self._modules[str(len(self._modules))] = _module(module, "ModuleList.append")
        return self

    def extend(self, modules) -> "ModuleList":
        for m in modules:
            self.append(m)
        return self

    def insert(self, index: int, module) -> None:
        mods = list(self._modules.values())
        mods.insert(index, _module(module, "ModuleList.insert"))
        self._modules.clear()
        for k, m in enumerate(mods):
            self._modules[str(k)] = m

    def forward(self, *args, **kwargs):
        raise NotImplementedError("ModuleList has no forward: iterate over it in your module's forward")


class ModuleDict(Module):
    """An ordered dict of modules, registered under their keys (torch.nn.ModuleDict)."""

    def __init__(self, modules=None) -> None:
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules)

    def __contains__(self, key):
        return key in self._modules

    def __getitem__(self, key):
        return self._modules[key]

    def __setitem__(self, key, module):
        self.add_module(key, _module(module, f"ModuleDict[{key!r}] ="))

    def __delitem__(self, key):
        del self._modules[key]

    def keys(self):
        return self._modules.keys()

    def values(self):
        return self._modules.values()

    def items(self):
        return self._modules.items()

    def pop(self, key):
        return self._modules.pop(key)

    def clear(self) -> None:
        self._modules.clear()

    def update(self, modules) -> None:
        items = modules.items() if isinstance(modules, (dict, OrderedDict, ModuleDict)) else modules
        for key, m in items:
            self[key] = m

    def forward(self, *args, **kwargs):
        raise NotImplementedError("ModuleDict has no forward: index it in your module's forward")
