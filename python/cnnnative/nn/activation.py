"""Element-wise activations and (log-)softmax: each forward is one cnnnative.ops call, which
autograd records when its input requires grad.

ReLU, ReLU6 and LeakyReLU take inplace=True as in PyTorch: the forward then overwrites its
input array (use it only where nobody else reads that input, e.g. right after a conv or
linear). When recording, ReLU and ReLU6 do so only where no recorded backward reads that
array (else they write a fresh one; see ops/_private.py), and LeakyReLU never does."""
from __future__ import annotations

import numpy as np

from .. import autograd, ops
from ..ops.activation import _gelu_kind
from ..tensor import Tensor
from ._util import as_input, index
from .module import Module

__all__ = ["ReLU", "ReLU6", "LeakyReLU", "Tanh", "Sigmoid", "SiLU", "GELU", "Hardswish", "Hardsigmoid",
           "Softmax", "LogSoftmax"]


class _Elementwise(Module):
    """Shape-preserving layer; subclasses set _fwd(x, out=None)."""

    inplace = False

    def output_shape(self, input_shape):
        return tuple(input_shape)

    def _fwd(self, x, out=None):
        raise NotImplementedError

    def _can_write_inplace(self) -> bool:
        return self.inplace

    records_in_place = False  # the op's recording version takes out=input (ReLU, ReLU6)

    def forward(self, x):
        x = as_input(x, self)
        if self._can_write_inplace():
            if isinstance(x, Tensor) and x.requires_grad and autograd.is_grad_enabled():
                return self._fwd(x, out=x) if self.records_in_place else self._fwd(x)
            target = _inplace_target(x)
            if target is not None:
                self._fwd(target, out=target)
                return x
        return self._fwd(x)


def _inplace_target(x):
    """The array an in-place forward may overwrite: a writable float32 numpy array, or the
    array of a Tensor that records nothing (never one in a recorded graph, nor while
    compile traces: the trace must see the op)."""
    if isinstance(x, Tensor):
        if (x.requires_grad and autograd.is_grad_enabled()) or autograd._state.tracer is not None:
            return None
        x = x.data
    if (isinstance(x, np.ndarray) and x.dtype == np.float32 and x.flags.c_contiguous
            and x.flags.writeable):
        return x
    return None


class ReLU(_Elementwise):
    """max(x, 0), any shape."""

    records_in_place = True

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = bool(inplace)

    def _fwd(self, x, out=None):
        return ops.relu(x, out=out) if out is not None else ops.relu(x)

    def extra_repr(self):
        return "inplace=True" if self.inplace else ""


class ReLU6(_Elementwise):
    """min(max(x, 0), 6), any shape."""

    records_in_place = True

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = bool(inplace)

    def _fwd(self, x, out=None):
        return ops.relu6(x, out=out) if out is not None else ops.relu6(x)

    def extra_repr(self):
        return "inplace=True" if self.inplace else ""


class LeakyReLU(_Elementwise):
    """x if x > 0 else negative_slope * x, any shape."""

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False) -> None:
        super().__init__()
        self.negative_slope = float(negative_slope)
        self.inplace = bool(inplace)

    def _fwd(self, x, out=None):
        if out is not None:
            return ops.leaky_relu(x, self.negative_slope, out=out)
        return ops.leaky_relu(x, self.negative_slope)

    def extra_repr(self):
        s = f"negative_slope={self.negative_slope}"
        return s + (", inplace=True" if self.inplace else "")


class Tanh(_Elementwise):
    """tanh(x), any shape."""

    def _fwd(self, x, out=None):
        return ops.tanh(x)


class Sigmoid(_Elementwise):
    """1 / (1 + exp(-x)), any shape."""

    def _fwd(self, x, out=None):
        return ops.sigmoid(x)


class _InplaceOptional(_Elementwise):
    """An activation whose op takes out= (SiLU, Hardswish, Hardsigmoid): inplace=True as in
    PyTorch overwrites the input array, except when recording (then a fresh array)."""

    _op = None  # the cnnnative.ops function, set by subclasses

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = bool(inplace)

    def _fwd(self, x, out=None):
        op = getattr(ops, self._op)
        return op(x) if out is None else op(x, out=out)

    def extra_repr(self):
        return "inplace=True" if self.inplace else ""


class SiLU(_InplaceOptional):
    """x * sigmoid(x) (swish), any shape."""

    _op = "silu"


class Hardswish(_InplaceOptional):
    """x * relu6(x + 3) / 6, any shape."""

    _op = "hardswish"


class Hardsigmoid(_InplaceOptional):
    """relu6(x + 3) / 6, any shape."""

    _op = "hardsigmoid"


class GELU(_Elementwise):
    """x * Phi(x) (approximate='none') or its tanh form (approximate='tanh'), any shape."""

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        self.approximate = _gelu_kind(approximate)

    def _fwd(self, x, out=None):
        return ops.gelu(x, self.approximate)

    def extra_repr(self):
        return f"approximate={self.approximate!r}"


class Softmax(_Elementwise):
    """softmax along `dim` (default -1, the class axis of (N, classes))."""

    def __init__(self, dim: int = -1) -> None:
        super().__init__()
        self.dim = index(dim, "dim")

    def _fwd(self, x, out=None):
        return ops.softmax(x, self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"


class LogSoftmax(Softmax):
    """log(softmax(x)) along `dim`."""

    def _fwd(self, x, out=None):
        return ops.log_softmax(x, self.dim)
