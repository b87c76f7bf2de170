"""Argument normalisation shared by the functional ops."""
from __future__ import annotations

import operator

import numpy as np

from .. import _core  # noqa: F401


def index(value, name: str) -> int:
    """A Python int from an int or numpy integer; floats (even 2.0), bools, strings and
    anything else are a TypeError naming the argument, as PyTorch does (int() would
    silently truncate groups=1.5 to 1)."""
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be an int, got bool {value!r}")
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}") from None


def finite(value, name: str, minimum=None, positive=False, maximum=None) -> float:
    """A finite float (>= minimum, or > minimum when positive; <= maximum). Bools,
    strings, NaN and infinities are rejected, so a bad hyper-parameter fails where it is
    given instead of turning every later step into NaN."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__} {value!r}")
    v = float(value)
    if not np.isfinite(v):
        raise ValueError(f"{name} must be finite, got {v}")
    if minimum is not None and (v <= minimum if positive else v < minimum):
        raise ValueError(f"{name} must be {'>' if positive else '>='} {minimum}, got {v}")
    if maximum is not None and v > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {v}")
    return v


def _items(value, name: str, what: str) -> tuple:
    """Elements of a sequence argument as ints: not a sequence at all is a ValueError (as
    before), a non-int element (1.5, True, '3') a TypeError."""
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise ValueError(f"{name} must be {what}, got {type(value).__name__} {value!r}")
    return tuple(index(v, name) for v in value)


def pair(value, name: str) -> tuple[int, int]:
    """An int or a pair of ints -> (h, w). Not an int nor a pair is a ValueError, a
    non-int element a TypeError, naming `name`."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
        return int(value), int(value)
    items = _items(value, name, "an int or a pair of ints")
    if len(items) != 2:
        raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}")
    return items


def padding4(value, name: str = "padding") -> tuple[int, int, int, int]:
    """Padding as an int, a pair (h, w) or (top, bottom, left, right)."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
        p = int(value)
        return p, p, p, p
    items = _items(value, name, "an int, a pair or (top, bottom, left, right)")
    if len(items) == 2:
        return items[0], items[0], items[1], items[1]
    if len(items) == 4:
        return items
    raise ValueError(f"{name} must be an int, a pair or (top, bottom, left, right), got {value!r}")


def as_float32(x, name: str) -> np.ndarray:
    """C-contiguous, aligned float32 view or copy of x (documented conversion of any array-like).
    A complex array is a TypeError: the cast would drop its imaginary part."""
    if np.iscomplexobj(x):
        raise TypeError(f"{name} must be a real array, got dtype {np.asarray(x).dtype}")
    try:
        return np.require(np.ascontiguousarray(x, dtype=np.float32), requirements=["C", "A"])
    except (TypeError, ValueError) as e:
        raise TypeError(f"{name} must be convertible to a float32 array: {e}") from None
