"""Element-wise activations and (log-)softmax. Each keeps the one array its backward
needs (the output, or the input for LeakyReLU) and only in training mode.

ReLU, ReLU6 and LeakyReLU take inplace=True as in PyTorch: the forward then overwrites its
input (use it only where nobody else reads that input, e.g. right after a conv or linear).
Called from a Sequential, their backward also overwrites the incoming gradient, which is
then scratch (made by the next layer's backward for this layer alone)."""
from __future__ import annotations

import numpy as np

from .. import ops
from ._util import as_input, index
from .module import Module

__all__ = ["ReLU", "ReLU6", "LeakyReLU", "Tanh", "Sigmoid", "Softmax", "LogSoftmax"]


class _Elementwise(Module):
    """Shape-preserving layer; subclasses set _fwd and _bwd(grad, saved)."""

    saves = "output"

    def __init__(self):
        super().__init__()
        self._saved = None

    def output_shape(self, input_shape):
        return tuple(input_shape)

    inplace = False

    def _fwd(self, x, out=None):
        raise NotImplementedError

    def _bwd(self, grad_output, saved, out=None):
        raise NotImplementedError

    def _can_write_inplace(self) -> bool:
        return self.inplace

    def forward(self, x):
        x = as_input(x, self)
        if self._can_write_inplace() and _writable_float32(x):
            y = self._fwd(x, out=x)
        else:
            y = self._fwd(x)
        if self.training:
            self._saved = y if self.saves == "output" else x
        else:
            self._saved = None
        return y

    def backward(self, grad_output):
        if self._saved is None:
            raise RuntimeError(f"{self!r}: backward without a training-mode forward")
        g = self._bwd(grad_output, self._saved)
        self._saved = None
        return g

    def _backward_chained(self, grad_output, *, grad_is_scratch, result_is_scratch):
        saved = self._saved
        if (not self._has_out or not grad_is_scratch or saved is None
                or not _writable_float32(grad_output) or grad_output.shape != saved.shape):
            return self.backward(grad_output)
        g = self._bwd(grad_output, saved, out=grad_output)
        self._saved = None
        return g

    _has_out = False  # _fwd/_bwd accept out= (the ReLU family)


def _writable_float32(a) -> bool:
    return (isinstance(a, np.ndarray) and a.dtype == np.float32 and a.flags.c_contiguous
            and a.flags.writeable)


class ReLU(_Elementwise):
    """max(x, 0), any shape."""

    _has_out = True

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = bool(inplace)

    def _fwd(self, x, out=None):
        return ops.relu(x, out=out)

    def _bwd(self, g, y, out=None):
        return ops.relu_backward(g, y, out=out)

    def extra_repr(self):
        return "inplace=True" if self.inplace else ""


class ReLU6(_Elementwise):
    """min(max(x, 0), 6), any shape."""

    _has_out = True

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = bool(inplace)

    def _fwd(self, x, out=None):
        return ops.relu6(x, out=out)

    def _bwd(self, g, y, out=None):
        return ops.relu6_backward(g, y, out=out)

    def extra_repr(self):
        return "inplace=True" if self.inplace else ""


class LeakyReLU(_Elementwise):
    """x if x > 0 else negative_slope * x, any shape."""

    saves = "input"

    _has_out = True

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False):
        super().__init__()
        self.negative_slope = float(negative_slope)
        self.inplace = bool(inplace)

    def _can_write_inplace(self) -> bool:
        # The backward reads the sign of the saved input; an in-place output has the same
        # sign only for a slope >= 0, so a negative slope stays out-of-place.
        return self.inplace and self.negative_slope >= 0.0

    def _fwd(self, x, out=None):
        return ops.leaky_relu(x, self.negative_slope, out=out)

    def _bwd(self, g, x, out=None):
        return ops.leaky_relu_backward(g, x, self.negative_slope, out=out)

    def extra_repr(self):
        s = f"negative_slope={self.negative_slope}"
        return s + (", inplace=True" if self.inplace else "")


class Tanh(_Elementwise):
    """tanh(x), any shape."""

    def _fwd(self, x):
        return ops.tanh(x)

    def _bwd(self, g, y):
        return ops.tanh_backward(g, y)


class Sigmoid(_Elementwise):
    """1 / (1 + exp(-x)), any shape."""

    def _fwd(self, x):
        return ops.sigmoid(x)

    def _bwd(self, g, y):
        return ops.sigmoid_backward(g, y)


class Softmax(_Elementwise):
    """softmax along `dim` (default -1, the class axis of (N, classes))."""

    def __init__(self, dim: int = -1):
        super().__init__()
        self.dim = index(dim, "dim")

    def _fwd(self, x):
        return ops.softmax(x, self.dim)

    def _bwd(self, g, y):
        return ops.softmax_backward(g, y, self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"


class LogSoftmax(Softmax):
    """log(softmax(x)) along `dim`."""

    def _fwd(self, x):
        return ops.log_softmax(x, self.dim)

    def _bwd(self, g, y):
        return ops.log_softmax_backward(g, y, self.dim)
