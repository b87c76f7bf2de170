"""Functional API over the C++ core, with torch.nn.functional-like names and signatures.

All tensors are numpy arrays, NCHW float32 (weights OIHW). Inputs of another dtype or
layout are converted to C-contiguous float32 first. Each area lives in its own module
(named after the area, e.g. ops/pool.py); this package re-exports their public names.
"""
import importlib as _importlib

_AREAS = ("gemm", "conv", "conv1d", "conv3d", "fastconv", "pool", "activation", "loss", "linear", "norm",
          "optim", "shape", "elementwise", "matmul", "reduce", "index", "local_conv", "resample", "pool_nd",
          "pool_adaptive", "pool_channels", "pool_unpool", "pool_lp", "conv_transpose", "pad",
          "activation_more", "dropout_more", "special", "pool_indices", "quant_fake")

__all__ = []
for _area in _AREAS:
    _mod = _importlib.import_module(f"{__name__}.{_area}")
    for _name in _mod.__all__:
        globals()[_name] = getattr(_mod, _name)
    __all__.extend(_mod.__all__)
del _area, _mod, _name

# The same names, spelled out for type checkers (which cannot follow the loop above).
from typing import TYPE_CHECKING as _TYPE_CHECKING  # noqa: E402

if _TYPE_CHECKING:
    from .gemm import *  # noqa: F401,F403
    from .conv import *  # noqa: F401,F403
    from .conv1d import *  # noqa: F401,F403
    from .conv3d import *  # noqa: F401,F403
    from .fastconv import *  # noqa: F401,F403
    from .pool import *  # noqa: F401,F403
    from .activation import *  # noqa: F401,F403
    from .loss import *  # noqa: F401,F403
    from .linear import *  # noqa: F401,F403
    from .norm import *  # noqa: F401,F403
    from .optim import *  # noqa: F401,F403
    from .shape import *  # noqa: F401,F403
    from .elementwise import *  # noqa: F401,F403
    from .matmul import *  # noqa: F401,F403
    from .reduce import *  # noqa: F401,F403
    from .index import *  # noqa: F401,F403
    from .local_conv import *  # noqa: F401,F403
    from .resample import *  # noqa: F401,F403
    from .pool_nd import *  # noqa: F401,F403
    from .pool_adaptive import *  # noqa: F401,F403
    from .pool_channels import *  # noqa: F401,F403
    from .pool_unpool import *  # noqa: F401,F403
    from .pool_lp import *  # noqa: F401,F403
    from .conv_transpose import *  # noqa: F401,F403
    from .pad import *  # noqa: F401,F403
    from .activation_more import *  # noqa: F401,F403
    from .dropout_more import *  # noqa: F401,F403
    from .special import *  # noqa: F401,F403
    from .pool_indices import *  # noqa: F401,F403
    from .quant_fake import *  # noqa: F401,F403

# --- dispatch: numpy, recording Tensor, GPU ---------------------------------------------
# Every public op goes through `_dispatching`. Plain arrays (the common, fast case) pay one
# type check per argument. A Tensor argument means autograd: the op's recording version
# (ops/_registry.RULES) runs when something requires grad, else the Tensors are unwrapped
# and the result wrapped back. A cnnnative.cuda.Tensor among the (unwrapped) arguments runs
# the same-named function of cnnnative.cuda.ops instead (same signature).
import functools as _functools  # noqa: E402

from .. import autograd as _autograd  # noqa: E402
from ..tensor import Tensor as _Tensor  # noqa: E402
from ._registry import RULES as _RULES  # noqa: E402

_PLAIN = (int, float, str, bool, type(None))


def _scan(args, kwargs):
    """(any Tensor?, any Tensor requiring grad?, any GPU array?) over the arguments and the
    items of list/tuple arguments (cat, stack)."""
    tensor = grad = cuda = False
    for a in (*args, *kwargs.values()) if kwargs else args:
        t = type(a)
        if t is _np_ndarray or t in _PLAIN:
            continue
        if t is list or t is tuple:
            for b in a:
                if isinstance(b, _Tensor):
                    tensor = True
                    grad = grad or b.requires_grad
                elif type(b).__module__ == "cnnnative._cuda":
                    cuda = True
        elif isinstance(a, _Tensor):
            tensor = True
            grad = grad or a.requires_grad
        elif t.__module__ == "cnnnative._cuda":
            cuda = True
    return tensor, grad, cuda


def _unwrap(a):
    t = type(a)
    if t is list or t is tuple:
        return t(_unwrap(b) for b in a)
    return a.data if isinstance(a, _Tensor) else a


def _wrap(out):
    if isinstance(out, tuple):
        return tuple(_wrap(o) for o in out)
    if isinstance(out, list):
        return [_wrap(o) for o in out]
    if isinstance(out, _np_ndarray) or type(out).__module__ == "cnnnative._cuda":
        return _Tensor._wrap(out)
    return out


def _on_gpu(name, args, kwargs):
    from ..cuda import ops as cuda_ops
    gpu_function = getattr(cuda_ops, name, None)
    if gpu_function is None:
        raise TypeError(f"cnnnative.ops.{name} has no CUDA implementation; "
                        f"move its inputs to the host with .numpy()")
    return gpu_function(*args, **kwargs)


def _dispatching(name, cpu_function):
    @_functools.wraps(cpu_function)
    def op(*args, **kwargs):
        # The common recorded call: the first argument requires grad, nothing traces.
        if args and isinstance(args[0], _Tensor) and args[0].requires_grad and not _state.disabled \
                and _state.tracer is None and name in _RULES:
            return _RULES[name](*args, **kwargs)
        tensor, grad, cuda = _scan(args, kwargs)
        if not tensor:
            return _on_gpu(name, args, kwargs) if cuda else cpu_function(*args, **kwargs)
        state = _state
        tracer = state.tracer
        if grad and not state.disabled:
            rule = _RULES.get(name)
            if rule is None:
                raise RuntimeError(f"cnnnative.ops.{name} records no gradient: call it on arrays "
                                   "(or under cnnnative.no_grad()), not on Tensors that require grad")
            out = rule(*args, **kwargs)
        else:
            uargs = tuple(_unwrap(a) for a in args)
            ukwargs = {k: _unwrap(v) for k, v in kwargs.items()}
            out = _wrap(op(*uargs, **ukwargs))
        if tracer is not None:
            tracer(name, args, kwargs, out)
        return out
    op.plain = cpu_function  # the numpy function itself (no dispatch)
    return op


_np_ndarray = __import__("numpy").ndarray
_state = _autograd._state  # per-thread grad mode and tracer
for _area in _AREAS:
    _mod = _importlib.import_module(f"{__name__}.{_area}")
    for _name in _mod.__all__:
        _f = getattr(_mod, _name)
        if callable(_f) and not isinstance(_f, type):
            # The area module's own name is rebound too, so a recording version calling
            # conv2d_input(...) on a GPU array reaches the GPU kernel.
            globals()[_name] = _dispatching(_name, _f)
            setattr(_mod, _name, globals()[_name])
del _area, _mod, _name, _f

# Tensor methods call these ops by name; hand tensor.py this package (no import per call).
# (Through sys.modules: the package attribute cnnnative.tensor is the cn.tensor() function.)
import sys as _sys  # noqa: E402
_sys.modules[_Tensor.__module__].ops = _sys.modules[__name__]
