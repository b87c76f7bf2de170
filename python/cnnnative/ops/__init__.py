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

# --- device dispatch (added by the CUDA backend) ------------------------------------------
# A call with a cnnnative.cuda.Tensor among its arguments runs the same-named function of
# cnnnative.cuda.ops (same signature) instead; numpy calls pay one type check per argument.
import functools as _functools  # noqa: E402


def _on_cuda(args, kwargs):
    for a in (*args, *kwargs.values()):
        if type(a).__module__ == "cnnnative._cuda":
            return True
    return False


def _with_device_dispatch(name, cpu_function):
    @_functools.wraps(cpu_function)
    def op(*args, **kwargs):
        if _on_cuda(args, kwargs):
            from ..cuda import ops as cuda_ops
            gpu_function = getattr(cuda_ops, name, None)
            if gpu_function is None:
                raise TypeError(f"cnnnative.ops.{name} has no CUDA implementation; "
                                f"move its inputs to the host with .numpy()")
            return gpu_function(*args, **kwargs)
        return cpu_function(*args, **kwargs)
    return op


for _name in __all__:
    if callable(globals()[_name]) and not isinstance(globals()[_name], type):
        globals()[_name] = _with_device_dispatch(_name, globals()[_name])
del _name
