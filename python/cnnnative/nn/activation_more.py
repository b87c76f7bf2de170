"""PReLU, ELU, SELU, CELU, Hardtanh, Threshold, Mish, Softplus, Softsign and LogSigmoid layers
(torch.nn's names, arguments and parameter layout): each forward is one cnnnative.ops call.

inplace=True (where PyTorch has it) overwrites the input array, except while recording a
gradient or tracing for compile: then a fresh array (see nn/activation.py)."""
from __future__ import annotations

import numpy as np

from .. import ops
from ..ops._args import finite, index
from ..ops.activation_more import _bounds, _celu_alpha, _softplus_args
from ._util import as_input
from .activation import _Elementwise
from .module import Module, Parameter

__all__ = ["PReLU", "ELU", "SELU", "CELU", "Hardtanh", "Threshold", "Mish", "Softplus", "Softsign",
           "LogSigmoid"]


class PReLU(Module):
    """x where x > 0, else weight * x: one learned slope shared by all channels
    (num_parameters=1) or one per channel (num_parameters = C, the size of dim 1). The
    slopes start at `init` (0.25, as PyTorch). state_dict: {"weight": (num_parameters,)}."""

    def __init__(self, num_parameters: int = 1, init: float = 0.25) -> None:
        super().__init__()
        n = index(num_parameters, "PReLU num_parameters")
        if n < 1:
            raise ValueError(f"PReLU num_parameters must be >= 1, got {n}")
        self.num_parameters = n
        self.weight = Parameter(np.full(n, finite(init, "PReLU init"), np.float32))

    def output_shape(self, input_shape):
        return tuple(input_shape)

    def forward(self, x):
        return ops.prelu(as_input(x, self), self.weight)

    def extra_repr(self):
        return f"num_parameters={self.num_parameters}"


class _WithOut(_Elementwise):
    """An activation whose op takes out= (inplace=True writes into the input)."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = bool(inplace)

    def _args(self) -> tuple:
        return ()

    def _op(self):
        raise NotImplementedError

    def _fwd(self, x, out=None):
        op = self._op()
        return op(x, *self._args()) if out is None else op(x, *self._args(), out=out)

    def _inplace_repr(self):
        return ", inplace=True" if self.inplace else ""

    def extra_repr(self):
        return "inplace=True" if self.inplace else ""


class ELU(_WithOut):
    """x where x > 0, else alpha * (exp(x) - 1)."""

    def __init__(self, alpha: float = 1.0, inplace: bool = False) -> None:
        super().__init__(inplace)
        self.alpha = finite(alpha, "ELU alpha")

    def _op(self):
        return ops.elu

    def _args(self):
        return (self.alpha,)

    def extra_repr(self):
        return f"alpha={self.alpha}" + self._inplace_repr()


class SELU(_WithOut):
    """scale * (x where x > 0, else alpha * (exp(x) - 1)), SELU's fixed alpha and scale."""

    def _op(self):
        return ops.selu


class CELU(_WithOut):
    """x where x > 0, else alpha * (exp(x / alpha) - 1); alpha == 0 is a ValueError."""

    def __init__(self, alpha: float = 1.0, inplace: bool = False) -> None:
        super().__init__(inplace)
        self.alpha = _celu_alpha(alpha)

    def _op(self):
        return ops.celu

    def _args(self):
        return (self.alpha,)

    def extra_repr(self):
        return f"alpha={self.alpha}" + self._inplace_repr()


class Hardtanh(_WithOut):
    """clamp(x, min_val, max_val); max_val must be greater than min_val (as torch.nn)."""

    def __init__(self, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False) -> None:
        super().__init__(inplace)
        self.min_val, self.max_val = _bounds(min_val, max_val)
        if self.max_val == self.min_val:
            raise ValueError(f"Hardtanh: max_val ({self.max_val}) must be greater than min_val ({self.min_val})")

    def _op(self):
        return ops.hardtanh

    def _args(self):
        return (self.min_val, self.max_val)

    def extra_repr(self):
        return f"min_val={self.min_val}, max_val={self.max_val}" + self._inplace_repr()


class Threshold(_WithOut):
    """x where x > threshold, else value."""

    def __init__(self, threshold: float, value: float, inplace: bool = False) -> None:
        super().__init__(inplace)
        self.threshold = finite(threshold, "Threshold threshold")
        self.value = finite(value, "Threshold value")

    def _op(self):
        return ops.threshold

    def _args(self):
        return (self.threshold, self.value)

    def extra_repr(self):
        return f"threshold={self.threshold}, value={self.value}" + self._inplace_repr()


class Mish(_WithOut):
    """x * tanh(softplus(x))."""

    def _op(self):
        return ops.mish


class Softplus(_Elementwise):
    """log(1 + exp(beta x)) / beta, and x where beta x > threshold."""

    def __init__(self, beta: float = 1.0, threshold: float = 20.0) -> None:
        super().__init__()
        self.beta, self.threshold = _softplus_args(beta, threshold)

    def _fwd(self, x, out=None):
        return ops.softplus(x, self.beta, self.threshold)

    def extra_repr(self):
        return f"beta={self.beta}, threshold={self.threshold}"


class Softsign(_Elementwise):
    """x / (1 + |x|)."""

    def _fwd(self, x, out=None):
        return ops.softsign(x)


class LogSigmoid(_Elementwise):
    """log(sigmoid(x)), stable for any x."""

    def _fwd(self, x, out=None):
        return ops.logsigmoid(x)
