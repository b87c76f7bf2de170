"""Element-wise activations and (log-)softmax. Each keeps the one array its backward
needs (the output, or the input for LeakyReLU) and only in training mode."""
from __future__ import annotations

from .. import ops
from ._util import as_input
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

    def _fwd(self, x):
        raise NotImplementedError

    def _bwd(self, grad_output, saved):
        raise NotImplementedError

    def forward(self, x):
        x = as_input(x, self)
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


class ReLU(_Elementwise):
    """max(x, 0), any shape."""

    def __init__(self, inplace: bool = False):  # inplace accepted for PyTorch parity; ignored
        super().__init__()

    def _fwd(self, x):
        return ops.relu(x)

    def _bwd(self, g, y):
        return ops.relu_backward(g, y)


class ReLU6(_Elementwise):
    """min(max(x, 0), 6), any shape."""

    def __init__(self, inplace: bool = False):
        super().__init__()

    def _fwd(self, x):
        return ops.relu6(x)

    def _bwd(self, g, y):
        return ops.relu6_backward(g, y)


class LeakyReLU(_Elementwise):
    """x if x > 0 else negative_slope * x, any shape."""

    saves = "input"

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False):
        super().__init__()
        self.negative_slope = float(negative_slope)

    def _fwd(self, x):
        return ops.leaky_relu(x, self.negative_slope)

    def _bwd(self, g, x):
        return ops.leaky_relu_backward(g, x, self.negative_slope)

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}"


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
        self.dim = int(dim)

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
