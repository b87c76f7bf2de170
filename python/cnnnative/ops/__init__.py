"""Functional API over the C++ core, with torch.nn.functional-like names and signatures.

All tensors are numpy arrays, NCHW float32 (weights OIHW). Inputs of another dtype or
layout are converted to C-contiguous float32 first. Each area lives in its own module
(named after the area, e.g. ops/pool.py); this package re-exports their public names.
"""
import importlib as _importlib

_AREAS = ("gemm", "conv", "fastconv", "pool", "activation", "loss", "linear", "norm", "optim")

__all__ = []
for _area in _AREAS:
    _mod = _importlib.import_module(f"{__name__}.{_area}")
    for _name in _mod.__all__:
        globals()[_name] = getattr(_mod, _name)
    __all__.extend(_mod.__all__)
del _area, _mod, _name
