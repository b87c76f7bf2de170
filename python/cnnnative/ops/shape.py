"""Shape ops: reshape, flatten, transpose, permute, squeeze, unsqueeze (views of the input
where numpy gives one) and cat, stack, split, chunk (joining and cutting along a dim).

Semantics are torch's (negative dims count from the end; a 0-d input takes dim 0 or -1).
Each op has a recording version: the gradient of a view is the output gradient put back
in the input's shape (reshaped or transposed back); cat's is the output gradient cut at
the same places, split's the pieces' gradients joined again (zeros for an unused piece).
"""
from __future__ import annotations

import numpy as np

from ..autograd import array_of, record
from ._args import index
from ._registry import grad_rule
from ._tensor_args import dim as _dim, float32

__all__ = ["reshape", "flatten", "transpose", "permute", "squeeze", "unsqueeze",
           "cat", "stack", "split", "chunk"]


def _shape_arg(shape, name="shape"):
    if type(shape) is tuple:  # the common case (every Tensor.reshape), checked cheaply
        for s in shape:
            if type(s) is not int:
                break
        else:
            return shape
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
        return (int(shape),)
    try:
        return tuple(index(s, name) for s in shape)
    except TypeError:
        raise TypeError(f"{name} must be an int or a sequence of ints, got {shape!r}") from None


def reshape(input, shape):
    """input with a new shape (one dimension may be -1), as torch.reshape. A view when the
    memory allows it. A shape with another number of elements is a ValueError naming both."""
    x = float32(input, "reshape", "input")
    target = _shape_arg(shape)
    try:
        return x.reshape(target)
    except ValueError:
        raise ValueError(f"reshape: cannot view input of shape {x.shape} ({x.size} elements) as "
                         f"{target}") from None


def flatten(input, start_dim: int = 0, end_dim: int = -1):
    """Merge dims start_dim..end_dim into one (torch.flatten). nn.Flatten uses start_dim=1."""
    x = float32(input, "flatten", "input")
    if x.ndim == 0:
        return x.reshape(1)
    s, e = _dim(start_dim, x.ndim, "flatten", "start_dim"), _dim(end_dim, x.ndim, "flatten", "end_dim")
    if s > e:
        raise ValueError(f"flatten: start_dim ({start_dim}) comes after end_dim ({end_dim}) for a "
                         f"{x.ndim}-D input")
    n = int(np.prod(x.shape[s:e + 1], dtype=np.int64))
    return x.reshape(x.shape[:s] + (n,) + x.shape[e + 1:])


def transpose(input, dim0: int, dim1: int):
    """input with dims dim0 and dim1 swapped (a view), as torch.transpose."""
    x = float32(input, "transpose", "input")
    d0, d1 = _dim(dim0, x.ndim, "transpose", "dim0"), _dim(dim1, x.ndim, "transpose", "dim1")
    return np.swapaxes(x, d0, d1) if x.ndim else x


def _permutation(dims, ndim):
    if isinstance(dims, (int, np.integer)) or not hasattr(dims, "__len__"):
        raise TypeError(f"permute: dims must be a sequence of ints, got {dims!r}")
    if len(dims) != ndim:
        raise ValueError(f"permute: dims {tuple(dims)} has {len(dims)} entries for a {ndim}-D input")
    perm = tuple(_dim(d, ndim, "permute", "dims") for d in dims)
    if len(set(perm)) != len(perm):
        raise ValueError(f"permute: dims {tuple(dims)} names a dimension twice")
    return perm


def permute(input, dims):
    """input with its dims reordered: output dim i is input dim dims[i] (a view), as
    torch.permute. dims must name every dimension once."""
    x = float32(input, "permute", "input")
    return np.transpose(x, _permutation(dims, x.ndim))


def _squeezed_shape(shape, dim):
    if dim is None:
        return tuple(n for n in shape if n != 1)
    dims = dim if isinstance(dim, (tuple, list)) else (dim,)
    drop = {_dim(d, len(shape), "squeeze") for d in dims}
    return tuple(n for i, n in enumerate(shape) if not (i in drop and n == 1))


def squeeze(input, dim=None):
    """input without size-1 dims: all of them (dim=None), or only dim (an int or a tuple)
    where that dim has size 1 (otherwise unchanged), as torch.squeeze."""
    x = float32(input, "squeeze", "input")
    return x.reshape(_squeezed_shape(x.shape, dim))


def unsqueeze(input, dim: int):
    """input with a size-1 dim inserted at position dim (-1 appends one), as torch."""
    x = float32(input, "unsqueeze", "input")
    return np.expand_dims(x, _dim(dim, x.ndim, "unsqueeze", extra=1))


def _arrays(tensors, op):
    if not isinstance(tensors, (list, tuple)):
        raise TypeError(f"{op}: tensors must be a list or tuple of arrays, got {type(tensors).__name__}")
    if not tensors:
        raise ValueError(f"{op}: tensors is empty; give at least one array")
    return [float32(array_of(t), op, f"tensors[{i}]") for i, t in enumerate(tensors)]


def _cat_check(xs, dim):
    first = xs[0]
    if first.ndim == 0:
        raise ValueError("cat: zero-dimensional arrays cannot be concatenated (use stack)")
    d = _dim(dim, first.ndim, "cat")
    for i, x in enumerate(xs[1:], 1):
        if x.ndim != first.ndim or x.shape[:d] != first.shape[:d] or x.shape[d + 1:] != first.shape[d + 1:]:
            raise ValueError(f"cat: tensors[{i}] has shape {x.shape} but tensors[0] has shape "
                             f"{first.shape}; all dims but dim {d} must match")
    return d


def cat(tensors, dim: int = 0):
    """The arrays joined along an existing dim (torch.cat): every dim but `dim` must match."""
    xs = _arrays(tensors, "cat")
    return np.concatenate(xs, axis=_cat_check(xs, dim))


def _stack_check(xs, dim):
    for i, x in enumerate(xs[1:], 1):
        if x.shape != xs[0].shape:
            raise ValueError(f"stack: tensors[{i}] has shape {x.shape} but tensors[0] has shape "
                             f"{xs[0].shape}; stack needs equal shapes")
    return _dim(dim, xs[0].ndim, "stack", extra=1)


def stack(tensors, dim: int = 0):
    """The arrays (all one shape) joined along a new dim at position dim (torch.stack)."""
    xs = _arrays(tensors, "stack")
    return np.stack(xs, axis=_stack_check(xs, dim))


def _section_sizes(n, split_size_or_sections, d):
    s = split_size_or_sections
    if isinstance(s, (list, tuple)):
        sizes = [index(v, "split: split_size_or_sections") for v in s]
        if any(v < 0 for v in sizes) or sum(sizes) != n:
            raise ValueError(f"split: sections {tuple(sizes)} must be >= 0 and add up to dim {d}'s "
                             f"size {n}")
        return sizes
    size = index(s, "split: split_size_or_sections")
    if size < 0 or (size == 0 and n != 0):
        raise ValueError(f"split: split_size must be >= 1 (0 only for an empty dim), got {size} "
                         f"for dim {d} of size {n}")
    if n == 0:
        return [0]
    return [size] * (n // size) + ([n % size] if n % size else [])


def _cut(x, sizes, d):
    """Views of x along dim d, one per size."""
    pieces, start = [], 0
    lead = (slice(None),) * d
    for n in sizes:
        pieces.append(x[lead + (slice(start, start + n),)])
        start += n
    return tuple(pieces)


def split(input, split_size_or_sections, dim: int = 0):
    """input cut along dim into pieces (views), as torch.split: an int gives pieces of that
    size (the last one smaller when it does not divide), a list the size of each piece
    (they must add up to the dim's size). Returns a tuple."""
    x = float32(input, "split", "input")
    if x.ndim == 0:
        raise ValueError("split: a 0-d input has no dim to split")
    d = _dim(dim, x.ndim, "split")
    return _cut(x, _section_sizes(x.shape[d], split_size_or_sections, d), d)


def _chunk_sizes(n, chunks, d):
    chunks = index(chunks, "chunk: chunks")
    if chunks < 1:
        raise ValueError(f"chunk: chunks must be >= 1, got {chunks}")
    if n == 0:
        return [0] * chunks  # torch: that many empty pieces
    each = -(-n // chunks)
    return _section_sizes(n, each, d)


def chunk(input, chunks: int, dim: int = 0):
    """input cut along dim into `chunks` pieces of ceil(size / chunks) (views), as
    torch.chunk: the last may be smaller and there may be fewer than `chunks`."""
    x = float32(input, "chunk", "input")
    if x.ndim == 0:
        raise ValueError("chunk: a 0-d input has no dim to cut")
    d = _dim(dim, x.ndim, "chunk")
    return _cut(x, _chunk_sizes(x.shape[d], chunks, d), d)


# --- recording versions --------------------------------------------------------------------
# The rules call the plain functions through these names: the dispatcher rebinds the
# public ones to their dispatching versions, which a rule need not pass through again.
_reshape, _flatten, _transpose, _permute, _squeeze, _unsqueeze = \
    reshape, flatten, transpose, permute, squeeze, unsqueeze


def _back_to(shape):
    return lambda g: (g.reshape(shape),)


@grad_rule("reshape")
def _reshape_recorded(input, shape):
    x = float32(array_of(input), "reshape", "input")
    return record(_reshape(x, shape), (input,), _back_to(x.shape), "reshape")


@grad_rule("flatten")
def _flatten_recorded(input, start_dim: int = 0, end_dim: int = -1):
    x = float32(array_of(input), "flatten", "input")
    return record(_flatten(x, start_dim, end_dim), (input,), _back_to(x.shape), "flatten")


@grad_rule("squeeze")
def _squeeze_recorded(input, dim=None):
    x = float32(array_of(input), "squeeze", "input")
    return record(_squeeze(x, dim), (input,), _back_to(x.shape), "squeeze")


@grad_rule("unsqueeze")
def _unsqueeze_recorded(input, dim: int):
    x = float32(array_of(input), "unsqueeze", "input")
    return record(_unsqueeze(x, dim), (input,), _back_to(x.shape), "unsqueeze")


@grad_rule("transpose")
def _transpose_recorded(input, dim0: int, dim1: int):
    x = float32(array_of(input), "transpose", "input")
    out = _transpose(x, dim0, dim1)
    if x.ndim == 0:
        return record(out, (input,), lambda g: (g,), "transpose")
    d0, d1 = _dim(dim0, x.ndim, "transpose", "dim0"), _dim(dim1, x.ndim, "transpose", "dim1")
    return record(out, (input,), lambda g: (np.swapaxes(g, d0, d1),), "transpose")


@grad_rule("permute")
def _permute_recorded(input, dims):
    x = float32(array_of(input), "permute", "input")
    perm = _permutation(dims, x.ndim)
    inverse = tuple(np.argsort(perm)) if perm else ()
    return record(np.transpose(x, perm), (input,), lambda g: (np.transpose(g, inverse),), "permute")


@grad_rule("cat")
def _cat_recorded(tensors, dim: int = 0):
    xs = _arrays(tensors, "cat")
    d = _cat_check(xs, dim)
    sizes = [x.shape[d] for x in xs]
    return record(np.concatenate(xs, axis=d), tuple(tensors), lambda g: _cut(g, sizes, d), "cat")


@grad_rule("stack")
def _stack_recorded(tensors, dim: int = 0):
    xs = _arrays(tensors, "stack")
    d = _stack_check(xs, dim)
    lead = (slice(None),) * d
    return record(np.stack(xs, axis=d), tuple(tensors),
                  lambda g: tuple(g[lead + (i,)] for i in range(len(xs))), "stack")


def _join_pieces(sizes, d, piece_shape):
    """Backward of a cut: the pieces' gradients joined along d, zeros where none came."""
    def backward(gs):
        parts = [g if g is not None else np.zeros(piece_shape(n), np.float32) for g, n in zip(gs, sizes)]
        return (np.concatenate(parts, axis=d),)
    return backward


def _cut_recorded(name, sizes_of):
    def recorded(input, how, dim: int = 0):
        x = float32(array_of(input), name, "input")
        if x.ndim == 0:
            raise ValueError(f"{name}: a 0-d input has no dim to cut")
        d = _dim(dim, x.ndim, name)
        sizes = sizes_of(x.shape[d], how, d)
        shape = x.shape
        return record(_cut(x, sizes, d), (input,),
                      _join_pieces(sizes, d, lambda n: shape[:d] + (n,) + shape[d + 1:]), name)
    return grad_rule(name)(recorded)


_cut_recorded("split", _section_sizes)
_cut_recorded("chunk", _chunk_sizes)
