"""Tensor: a float32 array that records the ops applied to it, for autograd.

`cn.Tensor(array, requires_grad=True)` wraps a numpy array (or a `cnnnative.cuda.Tensor`)
without copying when it is already float32. Every `cnnnative.ops` function accepts Tensors;
when one of them requires grad, the op records how to go backward (see autograd.py) and
returns a Tensor; `loss.backward()` then fills `.grad` of the leaves.

Design choices, for a reader coming from PyTorch:
- `.data` is the numpy array itself and `.grad` a plain float32 numpy array (None until a
  backward): optimizers, checkpoints and numpy code use them directly, with no wrapper.
- numpy interop both ways: `np.asarray(t)` gives the array (`__array__`); `array + t`
  calls the Tensor's operator (`__array_priority__`), so mixed expressions record.
- Operators and methods are thin calls of the `cnnnative.ops` function of the same name,
  so they trace into the op graph like any other op.
"""
from __future__ import annotations

import numpy as np

from collections import namedtuple

from . import autograd

__all__ = ["Tensor", "tensor"]


ops = None  # cnnnative.ops, bound by that package once it is imported (it imports this file)


MinMax = namedtuple("MinMax", ["values", "indices"])  # Tensor.max(dim) / min(dim), as torch


def _on_device(a) -> bool:
    return type(a).__module__ == "cnnnative._cuda"


class Tensor:
    """A float32 array (`data`) with an optional gradient (`grad`) and recorded history.

    requires_grad=True makes it a leaf whose `.grad` is filled by backward. Results of ops
    on tensors that require grad remember their op (`grad_fn`)."""

    __slots__ = ("data", "grad", "requires_grad", "_node", "_index", "__weakref__")
    __array_priority__ = 1000  # ndarray (op) Tensor defers to the Tensor's operator

    def __init__(self, data, requires_grad: bool = False) -> None:
        if isinstance(data, Tensor):
            data = data.data
        if not _on_device(data):
            data = np.asarray(data, dtype=np.float32)
        self.data = data
        self.grad = None
        self.requires_grad = bool(requires_grad)
        self._node = None
        self._index = 0

    @classmethod
    def _from_op(cls, data, node, index):
        t = Tensor.__new__(Tensor)
        t.data, t.grad, t.requires_grad, t._node, t._index = data, None, True, node, index
        return t

    @classmethod
    def _wrap(cls, data):
        """An op's output computed without recording."""
        t = Tensor.__new__(Tensor)
        t.data, t.grad, t.requires_grad, t._node, t._index = data, None, False, None, 0
        return t

    # -- what it is ---------------------------------------------------------------------
    @property
    def shape(self) -> tuple:
        return tuple(self.data.shape)

    @property
    def ndim(self) -> int:
        return len(self.data.shape)

    @property
    def dtype(self):
        return self.data.dtype

    def size(self, dim=None):
        """The shape (torch's size()), or one dimension's length."""
        return self.shape if dim is None else self.shape[dim]

    def numel(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    def dim(self) -> int:
        return self.ndim

    def __len__(self):
        return self.shape[0]

    @property
    def is_leaf(self) -> bool:
        return self._node is None

    @property
    def grad_fn(self):
        return self._node

    @property
    def device(self) -> str:
        return f"cuda:{self.data.device}" if _on_device(self.data) else "cpu"

    # -- conversions --------------------------------------------------------------------
    def numpy(self) -> np.ndarray:
        """The array itself (no copy; a GPU tensor is copied to the host)."""
        return self.data.numpy() if _on_device(self.data) else self.data

    def __array__(self, dtype=None, copy=None):
        a = self.numpy()
        if dtype is not None and a.dtype != dtype:
            return a.astype(dtype)
        return a.copy() if copy else a

    def item(self) -> float:
        if self.numel() != 1:
            raise ValueError(f"item(): only a one-element tensor converts to a number, this one has shape {self.shape}")
        return float(np.asarray(self.numpy()).reshape(-1)[0])

    def __float__(self):
        return self.item()

    def tolist(self):
        return self.numpy().tolist()

    def detach(self) -> "Tensor":
        """The same array, cut from the history (requires_grad=False)."""
        return Tensor._wrap(self.data)

    def requires_grad_(self, requires_grad: bool = True) -> "Tensor":
        if not self.is_leaf and not requires_grad:
            raise RuntimeError("requires_grad_(False) on a non-leaf tensor; use detach()")
        self.requires_grad = bool(requires_grad)
        return self

    def to(self, device: str) -> "Tensor":
        """A copy on "cpu" or "cuda[:N]" (leaves only; the copy is a new leaf)."""
        from .nn.module import _move
        return Tensor(_move(self.numpy() if device == "cpu" else self.data, str(device)),
                      requires_grad=self.requires_grad)

    def __repr__(self):
        extra = ""
        if self._node is not None:
            extra = f", grad_fn={self._node!r}"
        elif self.requires_grad:
            extra = ", requires_grad=True"
        body = np.array2string(np.asarray(self.numpy()), separator=", ", threshold=50, precision=4)
        return f"tensor({body}{extra})"

    # -- autograd -----------------------------------------------------------------------
    def backward(self, gradient=None, retain_graph: bool = False) -> None:
        """Accumulate the gradient of this tensor into every leaf's `.grad`. gradient:
        d(something)/d(self), required unless this tensor has one element."""
        autograd.backward([self], None if gradient is None else [gradient], retain_graph)

    def register_post_accumulate_grad_hook(self, hook):
        """Call hook(self) during `backward()` once this leaf's `.grad` holds everything that
        backward adds to it (torch.Tensor.register_post_accumulate_grad_hook). Unlike
        PyTorch, which calls it after each accumulation, it fires once per backward, after
        the last node that can contribute ran, so a parameter used twice is seen with its
        final gradient (what data-parallel bucketing needs). Not called by autograd.grad()
        (which fills no .grad) nor when no gradient reached the leaf. Leaves only.
        Returns a handle; handle.remove() unregisters."""
        return autograd.add_leaf_hook(self, hook)

    # -- operators (each one op of cnnnative.ops) -----------------------------------------
    def __add__(self, other): return ops.add(self, other)
    def __radd__(self, other): return ops.add(other, self)
    def __sub__(self, other): return ops.sub(self, other)
    def __rsub__(self, other): return ops.sub(other, self)
    def __mul__(self, other): return ops.mul(self, other)
    def __rmul__(self, other): return ops.mul(other, self)
    def __truediv__(self, other): return ops.div(self, other)
    def __rtruediv__(self, other): return ops.div(other, self)
    def __matmul__(self, other): return ops.matmul(self, other)
    def __rmatmul__(self, other): return ops.matmul(other, self)
    def __pow__(self, other): return ops.pow(self, other)
    def __rpow__(self, other): return ops.pow(other, self)
    def __neg__(self): return ops.neg(self)
    def __pos__(self): return self
    def __getitem__(self, index): return ops.getitem(self, index)

    # Comparisons give plain boolean arrays (no gradient flows through them).
    def __lt__(self, other): return self.numpy() < np.asarray(other)
    def __le__(self, other): return self.numpy() <= np.asarray(other)
    def __gt__(self, other): return self.numpy() > np.asarray(other)
    def __ge__(self, other): return self.numpy() >= np.asarray(other)

    # -- shape and reductions -------------------------------------------------------------
    def reshape(self, *shape):
        return ops.reshape(self, shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape)

    view = reshape

    def flatten(self, start_dim: int = 0, end_dim: int = -1):
        return ops.flatten(self, start_dim, end_dim)

    def transpose(self, dim0: int, dim1: int):
        return ops.transpose(self, dim0, dim1)

    def permute(self, *dims):
        return ops.permute(self, dims[0] if len(dims) == 1 and isinstance(dims[0], (tuple, list)) else dims)

    @property
    def T(self):
        return ops.permute(self, tuple(range(self.ndim - 1, -1, -1)))

    def squeeze(self, dim=None):
        return ops.squeeze(self, dim)

    def unsqueeze(self, dim: int):
        return ops.unsqueeze(self, dim)

    def sum(self, dim=None, keepdim: bool = False):
        return ops.sum(self, dim, keepdim)

    def mean(self, dim=None, keepdim: bool = False):
        return ops.mean(self, dim, keepdim)

    def max(self, dim=None, keepdim: bool = False):
        """The largest value (dim=None), or, as torch, (values, indices) along `dim`:
        values a Tensor (the gradient is shared among tied maxima, as torch.amax), indices
        an int64 array (the first maximum)."""
        return self._extreme(ops.amax, np.argmax, dim, keepdim)

    def min(self, dim=None, keepdim: bool = False):
        """The smallest value, or (values, indices) along `dim`; see max()."""
        return self._extreme(ops.amin, np.argmin, dim, keepdim)

    def _extreme(self, reduce, arg, dim, keepdim):
        values = reduce(self, dim, keepdim)
        if dim is None:
            return values
        indices = arg(self.numpy(), axis=dim)
        return MinMax(values, np.expand_dims(indices, dim) if keepdim else indices)

    def argmax(self, dim=None, keepdim: bool = False):
        """Indices of the maxima (an int64 numpy array; not differentiable)."""
        return np.argmax(self.numpy(), axis=dim, keepdims=keepdim) if dim is not None else np.argmax(self.numpy())

    def split(self, split_size_or_sections, dim: int = 0):
        return ops.split(self, split_size_or_sections, dim)

    def chunk(self, chunks: int, dim: int = 0):
        return ops.chunk(self, chunks, dim)

    def exp(self):
        return ops.exp(self)

    def log(self):
        return ops.log(self)

    def sqrt(self):
        return ops.sqrt(self)

    def abs(self):
        return ops.abs(self)

    def relu(self):
        return ops.relu(self)

    def sigmoid(self):
        return ops.sigmoid(self)

    def tanh(self):
        return ops.tanh(self)


autograd.Tensor, autograd._from_op = Tensor, Tensor._from_op


def tensor(data, requires_grad: bool = False) -> Tensor:
    """A new Tensor holding a float32 copy of `data` (torch.tensor)."""
    if isinstance(data, Tensor):
        data = data.numpy()
    return Tensor(np.array(data, dtype=np.float32, copy=True), requires_grad=requires_grad)
