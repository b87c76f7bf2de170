"""What every loss shares: the reduction argument, reducing per-element losses the way
PyTorch does (float64 accumulation here), the upstream gradient turned into a scale, and
the argument checks whose errors name the argument and the sizes."""
from __future__ import annotations

import numpy as np

from ._args import as_float32, finite

REDUCTIONS = ("mean", "sum", "none")


def reduction_arg(reduction, allowed=REDUCTIONS) -> str:
    if not isinstance(reduction, str) or reduction not in allowed:
        raise ValueError(f"reduction must be one of {allowed}, got {reduction!r}")
    return reduction


def divide(total: float, denominator: float) -> float:
    """total / denominator with IEEE results for a zero denominator (0/0 is NaN, as a
    PyTorch mean over no element or over all-ignored targets)."""
    if denominator:
        return np.float64(total) / denominator
    with np.errstate(divide="ignore", invalid="ignore"):  # (slow: only when it matters)
        return np.float64(total) / np.float64(denominator)


def reduce(per_element: np.ndarray, reduction: str, denominator=None):
    """'none': the float32 array; 'sum': a float; 'mean': the sum / denominator (the
    element count unless given), a float."""
    if reduction == "none":
        return per_element
    total = np.sum(per_element, dtype=np.float64)  # np.float64: a float that also has .item()
    if reduction == "sum":
        return total
    return divide(total, per_element.size if denominator is None else denominator)


def upstream(grad, reduction: str, out_shape: tuple, denominator=None):
    """The upstream gradient as (scalar, array or None): d(grad . loss) / d(per-element
    loss) is scalar * array (array None: 1). For 'none', grad is a number or an array of
    the loss's shape; otherwise a number (divided by the denominator for 'mean')."""
    if reduction == "none":
        g = np.asarray(grad, dtype=np.float32)
        if g.ndim == 0:
            return float(g), None
        if g.shape != tuple(out_shape):
            raise ValueError(f"grad must be a number or have the loss's shape {tuple(out_shape)} for "
                             f"reduction='none', got shape {g.shape}")
        return 1.0, np.ascontiguousarray(g)
    g = np.asarray(grad, dtype=np.float64)
    if g.size != 1:
        raise ValueError(f"grad must be a number for reduction={reduction!r}, got shape {g.shape}")
    g = float(g.reshape(()))
    if reduction == "mean":
        n = int(np.prod(out_shape)) if denominator is None else denominator
        return divide(g, n), None
    return g, None


def scaled(values: np.ndarray, scale: float, per_element) -> np.ndarray:
    """values * scale (* per_element), float32."""
    out = values * np.float32(scale)
    if per_element is not None:
        out *= per_element
    return out.astype(np.float32, copy=False)


def float_input(x, name: str) -> np.ndarray:
    """as_float32, with a shortcut for the common case (already a C-contiguous aligned
    float32 ndarray), which the per-step losses meet every time."""
    if type(x) is np.ndarray and x.dtype == np.float32 and x.flags.c_contiguous and x.flags.aligned:
        return x
    return as_float32(x, name)


def same_shape(input: np.ndarray, other, name: str, op: str) -> np.ndarray:
    """other as float32 with exactly input's shape. PyTorch would broadcast a (N,) target
    against a (N, 1) output into an (N, N) loss, a silent mistake: refused here."""
    o = as_float32(other, f"{op}: {name}")
    if o.shape != input.shape:
        raise ValueError(f"{op}: {name} has shape {o.shape} but input has shape {input.shape}; they must match "
                         "(reshape one of them)")
    return o


def broadcast_to_input(input: np.ndarray, other, name: str, op: str):
    """An optional weight-like argument broadcast to input's shape (a contiguous copy), or None."""
    if other is None:
        return None
    o = as_float32(other, f"{op}: {name}")
    try:
        b = np.broadcast_to(o, input.shape)
    except ValueError:
        raise ValueError(f"{op}: {name} of shape {o.shape} does not broadcast to the input's shape "
                         f"{input.shape}") from None
    return np.ascontiguousarray(b)


def nonnegative(value, name: str) -> float:
    return finite(value, name, minimum=0.0)


def positive(value, name: str) -> float:
    return finite(value, name, minimum=0.0, positive=True)


# -- recording (autograd) ---------------------------------------------------------------------
def loss_output(value) -> np.ndarray:
    """A loss value as the float32 array a recorded op returns (0-d for mean/sum)."""
    return np.asarray(value, dtype=np.float32)


def constant(value, name: str, op: str):
    """weight-like arguments get no gradient (PyTorch defines none): one that asks for it
    is refused rather than silently left at None."""
    if getattr(value, "requires_grad", False):
        raise ValueError(f"{op}: no gradient is defined for {name} (as in PyTorch); pass {name}.detach()")
