"""PReLU, the ELU family (ELU, SELU, CELU), Hardtanh, Threshold, Mish, Softplus, Softsign and
LogSigmoid: torch.nn.functional's formulas and its values at kinks, infinities and NaN.

Every forward takes an array of any shape (converted to C-contiguous float32) and returns a
new float32 array of that shape, or writes into `out=` where it takes one (a C-contiguous
float32 array of the shape; out=x is in-place). Every backward takes (grad_output, input,
same parameters): the gradients come from the forward's input, as in PyTorch.
"""
from __future__ import annotations

import numpy as np

from .. import _core
from ._args import finite

__all__ = [
    "prelu", "prelu_backward", "elu", "elu_backward", "selu", "selu_backward", "celu", "celu_backward",
    "hardtanh", "hardtanh_backward", "threshold", "threshold_backward", "mish", "mish_backward",
    "softplus", "softplus_backward", "softsign", "softsign_backward", "logsigmoid", "logsigmoid_backward",
]

# SELU's constants (Klambauer et al. 2017), as PyTorch writes them.
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def prelu(input, weight) -> np.ndarray:
    """input where input > 0, else weight[c] * input, c the index on dim 1 (channels).
    weight: 1 element (one slope shared by all) or one per channel (input.shape[1]; a 0-d
    or 1-D input has one channel). Another size is a ValueError naming both."""
    return _core.prelu(input, weight)


def prelu_backward(grad_output, input, weight, *, input_grad: bool = True, weight_grad: bool = True):
    """(grad_input, grad_weight) of prelu: grad_input = g where input > 0 else weight[c] * g;
    grad_weight (weight's shape) sums input * g over input <= 0. A gradient not asked for
    (input_grad / weight_grad False) is None and costs nothing."""
    return _core.prelu_backward(grad_output, input, weight, bool(input_grad), bool(weight_grad))


def _alpha(alpha, op) -> float:
    return finite(alpha, f"{op}: alpha")


def elu(input, alpha: float = 1.0, *, out=None) -> np.ndarray:
    """input where input > 0, else alpha * (exp(input) - 1)."""
    return _core.elu(input, _alpha(alpha, "elu"), 1.0, 1.0, out)


def elu_backward(grad_output, input, alpha: float = 1.0) -> np.ndarray:
    """g where input > 0, else g * alpha * exp(input) (also at 0; NaN input gives NaN)."""
    return _core.elu_backward(grad_output, input, _alpha(alpha, "elu"), 1.0, 1.0)


def selu(input, *, out=None) -> np.ndarray:
    """scale * elu(input, alpha) with SELU's fixed alpha and scale."""
    return _core.elu(input, SELU_ALPHA, SELU_SCALE, 1.0, out)


def selu_backward(grad_output, input) -> np.ndarray:
    """g * scale where input > 0, else g * scale * alpha * exp(input)."""
    return _core.elu_backward(grad_output, input, SELU_ALPHA, SELU_SCALE, 1.0)


def _celu_alpha(alpha) -> float:
    a = _alpha(alpha, "celu")
    if a == 0.0:
        raise ValueError("celu: alpha cannot be 0 (the input is divided by it)")
    return a


def celu(input, alpha: float = 1.0, *, out=None) -> np.ndarray:
    """input where input > 0, else alpha * (exp(input / alpha) - 1). alpha == 0 is a ValueError."""
    a = _celu_alpha(alpha)
    return _core.elu(input, a, 1.0, 1.0 / a, out)


def celu_backward(grad_output, input, alpha: float = 1.0) -> np.ndarray:
    """g where input > 0, else g * exp(input / alpha)."""
    a = _celu_alpha(alpha)
    return _core.elu_backward(grad_output, input, a, 1.0, 1.0 / a)


def _bounds(min_val, max_val):
    lo, hi = finite(min_val, "hardtanh: min_val"), finite(max_val, "hardtanh: max_val")
    if lo > hi:
        raise ValueError(f"hardtanh: min_val ({lo}) cannot be greater than max_val ({hi})")
    return lo, hi


def hardtanh(input, min_val: float = -1.0, max_val: float = 1.0, *, out=None) -> np.ndarray:
    """clamp(input, min_val, max_val) (NaN stays NaN). min_val > max_val is a ValueError."""
    return _core.hardtanh(input, *_bounds(min_val, max_val), out)


def hardtanh_backward(grad_output, input, min_val: float = -1.0, max_val: float = 1.0) -> np.ndarray:
    """g strictly between the bounds, 0 at and beyond them and for NaN input (as PyTorch)."""
    return _core.hardtanh_backward(grad_output, input, *_bounds(min_val, max_val))


def threshold(input, threshold: float, value: float, *, out=None) -> np.ndarray:
    """input where input > threshold, else value (NaN input stays NaN)."""
    return _core.threshold(input, finite(threshold, "threshold: threshold"), finite(value, "threshold: value"), out)


def threshold_backward(grad_output, input, threshold: float) -> np.ndarray:
    """g where input > threshold (and for NaN input), else 0."""
    return _core.threshold_backward(grad_output, input, finite(threshold, "threshold: threshold"))


def mish(input, *, out=None) -> np.ndarray:
    """input * tanh(softplus(input)). mish(-inf) is NaN, as in PyTorch."""
    return _core.mish(input, out)


def mish_backward(grad_output, input) -> np.ndarray:
    """g * (t + input * sigmoid(input) * (1 - t^2)), t = tanh(softplus(input))."""
    return _core.mish_backward(grad_output, input)


def _softplus_args(beta, threshold):
    b = finite(beta, "softplus: beta")
    if b == 0.0:
        raise ValueError("softplus: beta cannot be 0 (the result is divided by it)")
    return b, finite(threshold, "softplus: threshold")


def softplus(input, beta: float = 1.0, threshold: float = 20.0) -> np.ndarray:
    """log(1 + exp(beta * input)) / beta, and input itself where beta * input > threshold."""
    return _core.softplus(input, *_softplus_args(beta, threshold))


def softplus_backward(grad_output, input, beta: float = 1.0, threshold: float = 20.0) -> np.ndarray:
    """g * sigmoid(beta * input) below the threshold, g above it."""
    return _core.softplus_backward(grad_output, input, *_softplus_args(beta, threshold))


def softsign(input) -> np.ndarray:
    """input / (1 + |input|) (NaN at +-inf, as PyTorch)."""
    return _core.softsign(input, None)


def softsign_backward(grad_output, input) -> np.ndarray:
    """g / (1 + |input|)^2 (NaN at +-inf, as PyTorch)."""
    return _core.softsign_backward(grad_output, input)


def logsigmoid(input) -> np.ndarray:
    """log(sigmoid(input)) = min(input, 0) - log1p(exp(-|input|)), stable for any input."""
    return _core.log_sigmoid(input, None)


def logsigmoid_backward(grad_output, input) -> np.ndarray:
    """g * sigmoid(-input)."""
    return _core.log_sigmoid_backward(grad_output, input)


# --- recording versions (autograd): each keeps the forward's input for its backward ---------
from ..autograd import array_of as _array_of, record as _record, wants as _wants  # noqa: E402
from ._registry import grad_rule as _grad_rule  # noqa: E402


def _kept(x) -> np.ndarray:
    return np.ascontiguousarray(_array_of(x), dtype=np.float32)


def _refuse_out(name, out):
    if out is not None:
        raise ValueError(f"{name}(out=...) cannot record a gradient (it overwrites an array the "
                         "backward may need); drop out= or use cnnnative.no_grad()")


def _rule(name, forward, backward_kernel):
    """Rule for op(input, *params) whose gradient is backward_kernel(g, input, *params)."""
    @_grad_rule(name)
    def recorded(x, *params, out=None, **named):
        _refuse_out(name, out)
        xa = _kept(x)
        y = forward(xa, *params, **named)
        return _record(y, (x,), lambda g: (backward_kernel(g, xa, *params, **named),), name)
    return recorded


_rule("elu", elu, elu_backward)
_rule("selu", selu, selu_backward)
_rule("celu", celu, celu_backward)
_rule("hardtanh", hardtanh, hardtanh_backward)
_rule("mish", mish, mish_backward)
_rule("softplus", softplus, softplus_backward)
_rule("softsign", softsign, softsign_backward)
_rule("logsigmoid", logsigmoid, logsigmoid_backward)


@_grad_rule("threshold")
def _threshold_recorded(x, threshold, value, *, out=None):
    _refuse_out("threshold", out)
    xa = _kept(x)
    y = globals()["threshold"](xa, threshold, value)
    return _record(y, (x,), lambda g: (threshold_backward(g, xa, threshold),), "threshold")


@_grad_rule("prelu")
def _prelu_recorded(input, weight):
    x, w = _kept(input), _kept(weight)
    y = prelu(x, w)

    def backward(g):
        gx, gw = prelu_backward(g, x, w, input_grad=_wants(input), weight_grad=_wants(weight))
        return gx, gw

    return _record(y, (input, weight), backward, "prelu")
