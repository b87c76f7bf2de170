"""Argument normalisation shared by the functional ops."""
from __future__ import annotations

import operator

import numpy as np

from .. import _core  # noqa: F401


def _items(value, name: str, what: str) -> tuple[int, ...]:
    """The integers of a sequence; a float such as 2.5 is a TypeError, never truncated."""
    try:
        if isinstance(value, (str, bytes)):
            raise TypeError
        items = tuple(value)
    except TypeError:
        raise ValueError(f"{name} must be {what}, got {value!r}") from None
    try:
        return tuple(operator.index(v) for v in items)
    except TypeError:
        raise TypeError(f"{name} must be {what} (integers), got {value!r}") from None


def pair(value, name: str) -> tuple[int, int]:
    """An int or a pair of ints -> (h, w). Anything else is a ValueError naming `name`."""
    if isinstance(value, (int, np.integer)):
        return int(value), int(value)
    items = _items(value, name, "an int or a pair of ints")
    if len(items) != 2:
        raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}")
    return items


def padding4(value, name: str = "padding") -> tuple[int, int, int, int]:
    """Padding as an int, a pair (h, w) or (top, bottom, left, right)."""
    if isinstance(value, (int, np.integer)):
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
