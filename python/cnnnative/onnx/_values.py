"""What an ONNX value is while a model is imported.

- a graph `Node` (`cnnnative.nn.graph.Node`): computed at run time; its first dim is the
  batch, which stays dynamic;
- a numpy array: a constant (an initializer, a Constant, or anything folded from them);
- a `ShapeTensor`: a 1-D int64 vector some of whose entries are the batch size, which is
  not known at load (what `Shape` of a graph value gives). Gather, Slice, Concat,
  Unsqueeze, Squeeze and Cast work on it symbolically, so the `Shape -> Gather ->
  Unsqueeze -> Concat -> Reshape` chains of dynamic-batch exports fold at load.
"""
from __future__ import annotations

import numpy as np

__all__ = ["ShapeTensor", "BATCH", "is_graph_value", "is_constant"]


class _Batch:
    """The batch size: an entry of a ShapeTensor that is known only at run time."""

    def __repr__(self):
        return "N"


BATCH = _Batch()


class ShapeTensor:
    """A 1-D int64 vector whose entries are ints or BATCH; with scalar=True a 0-d one of a
    single entry (what Gather of one dim gives, before Unsqueeze makes it a vector again)."""

    __slots__ = ("entries", "scalar")

    def __init__(self, entries, scalar=False):
        self.entries = tuple(e if e is BATCH else int(e) for e in entries)
        self.scalar = bool(scalar)
        if self.scalar and len(self.entries) != 1:
            raise ValueError(f"a scalar ShapeTensor holds one entry, got {self.entries}")

    @property
    def known(self) -> bool:
        return BATCH not in self.entries

    def array(self) -> np.ndarray:
        """The vector as an int64 array (only when no entry is the batch)."""
        if not self.known:
            raise ValueError(f"shape {self!r} depends on the batch size")
        return np.array(self.entries, dtype=np.int64).reshape(self.shape)

    @property
    def shape(self):
        return () if self.scalar else (len(self.entries),)

    def __len__(self):
        return len(self.entries)

    def __repr__(self):
        if self.scalar:
            return f"ShapeTensor({self.entries[0]!r})"
        return "ShapeTensor([" + ", ".join(map(repr, self.entries)) + "])"


def is_graph_value(v) -> bool:
    from ..nn.graph import Node
    return isinstance(v, Node)


def is_constant(v) -> bool:
    return isinstance(v, np.ndarray)
