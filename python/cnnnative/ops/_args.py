"""Argument normalisation shared by the functional ops."""
from __future__ import annotations

import numpy as np

from .. import _core  # noqa: F401


def pair(value, name: str) -> tuple[int, int]:
    """An int or a pair of ints -> (h, w). Anything else is a ValueError naming `name`."""
    if isinstance(value, (int, np.integer)):
        return int(value), int(value)
    try:
        items = tuple(int(v) for v in value)
    except TypeError:
        raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}") from None
    if len(items) != 2:
        raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}")
    return items


def padding4(value, name: str = "padding") -> tuple[int, int, int, int]:
    """Padding as an int, a pair (h, w) or (top, bottom, left, right)."""
    if isinstance(value, (int, np.integer)):
        p = int(value)
        return p, p, p, p
    try:
        items = tuple(int(v) for v in value)
    except TypeError:
        raise ValueError(f"{name} must be an int, a pair or (top, bottom, left, right), got {value!r}") from None
    if len(items) == 2:
        return items[0], items[0], items[1], items[1]
    if len(items) == 4:
        return items
    raise ValueError(f"{name} must be an int, a pair or (top, bottom, left, right), got {value!r}")


def as_float32(x, name: str) -> np.ndarray:
    """C-contiguous float32 view or copy of x (documented conversion of any array-like)."""
    try:
        return np.ascontiguousarray(x, dtype=np.float32)
    except (TypeError, ValueError) as e:
        raise TypeError(f"{name} must be convertible to a float32 array: {e}") from None
