"""1-D convolution (torch.nn.functional.conv1d) on the 2-D kernels: a (N, C, L) input is
the (N, C, 1, L) image of height 1, so every fast conv2d path (GEMM, depthwise, its
gradients) runs it; there is no 1-D loop of its own."""
from __future__ import annotations

from . import conv as _conv
from ._args import _items, index

__all__ = ["conv1d"]  # single() and left_right_padding() are for nn.Conv1d too


def single(value, name):
    """An int or a 1-tuple (torch's spelling) -> int."""
    if isinstance(value, (tuple, list)):
        items = _items(value, name, "an int or a 1-tuple")
        if len(items) != 1:
            raise ValueError(f"{name} must be an int or a 1-tuple, got {value!r}")
        return items[0]
    return index(value, name)


def left_right_padding(padding, kernel, stride, dilation):
    """(left, right) zero padding: an int, (p,), (left, right), 'valid' or 'same'.
    'same' (stride 1 only) pads dilation*(kernel-1) in all, the odd one on the right, as
    torch does for even kernels."""
    if isinstance(padding, str):
        if padding == "valid":
            return 0, 0
        if padding == "same":
            if stride != 1:
                raise ValueError(f"padding='same' needs stride 1, got stride={stride}")
            total = dilation * (kernel - 1)
            return total // 2, total - total // 2
        raise ValueError(f"padding must be an int, a pair, 'same' or 'valid', got {padding!r}")
    if isinstance(padding, (tuple, list)):
        items = _items(padding, "padding", "an int, (left, right), 'same' or 'valid'")
        if len(items) not in (1, 2):
            raise ValueError(f"padding must be an int, (left, right), 'same' or 'valid', got {padding!r}")
        left, right = items[0], items[-1]
    else:
        left = right = index(padding, "padding")
    if left < 0 or right < 0:
        raise ValueError(f"padding must be >= 0, got {padding!r}")
    return left, right


def _as_2d(x, w, stride, padding, dilation, groups):
    """The height-1 views of input and weight, and conv2d's geometry; sizes checked here
    so errors speak of L and kernel width, not of a height the caller never gave."""
    for a, name in ((x, "input"), (w, "weight")):
        if a is None:
            raise TypeError(f"conv1d: {name} must be an array, got None")
    if x.ndim not in (2, 3):
        raise ValueError(f"input must be (N, C, L) or unbatched (C, L), got shape {tuple(x.shape)}")
    if w.ndim != 3:
        raise ValueError(f"weight must be (out_channels, in_channels/groups, kernel), got shape {tuple(w.shape)}")
    stride, dilation, groups = single(stride, "stride"), single(dilation, "dilation"), index(groups, "groups")
    if stride <= 0 or dilation <= 0 or groups <= 0:
        raise ValueError(f"stride, dilation and groups must be positive, got stride={stride}, "
                         f"dilation={dilation}, groups={groups}")
    left, right = left_right_padding(padding, w.shape[2], stride, dilation)
    channels, length = x.shape[-2], x.shape[-1]
    if w.shape[0] % groups or channels != w.shape[1] * groups:
        raise ValueError(f"input has {channels} channels and weight shape {tuple(w.shape)} with "
                         f"groups={groups}: need in_channels == weight.shape[1]*groups and "
                         f"out_channels divisible by groups")
    if w.shape[2] == 0 or length + left + right < dilation * (w.shape[2] - 1) + 1:
        raise ValueError(f"kernel {w.shape[2]} (dilation {dilation}) does not fit the input length "
                         f"{length} padded by ({left}, {right})")
    x4 = x[None, :, None, :] if x.ndim == 2 else x[:, :, None, :]
    return x4, w[:, :, None, :], ((1, stride), (0, 0, left, right), (1, dilation), groups)


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """1-D convolution (cross-correlation), as torch.nn.functional.conv1d.

    input (N, C, L) or unbatched (C, L); weight (K, C/groups, R); bias (K,) or None.
    stride, dilation: int; padding: int, (left, right) (causal: (dilation*(R-1), 0)),
    'valid' or 'same' (stride 1; an even kernel pads one more on the right, as torch).
    Returns (N, K, OL) (or (K, OL)), OL = (L + left + right - dilation*(R-1) - 1)//stride + 1.
    """
    x, w = _conv._real(input, "input"), _conv._real(weight, "weight")
    x4, w4, geometry = _as_2d(x, w, stride, padding, dilation, groups)
    y = _conv.conv2d(x4, w4, bias, *geometry)
    return _squeezed(y, x.ndim)


def _squeezed(y4, ndim):
    """(N, K, 1, OL) -> (N, K, OL), or (K, OL) for an unbatched input (a view, no copy)."""
    n, k, _, length = y4.shape
    return y4.reshape((k, length) if ndim == 2 else (n, k, length))


# --- recording version (autograd) -----------------------------------------------------------
from ..autograd import array_of as _array_of, record as _record, wants as _wants  # noqa: E402
from ._registry import grad_rule as _grad_rule  # noqa: E402


@_grad_rule("conv1d")
def _conv1d_recorded(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    x, w = _conv._real(_array_of(input), "input"), _conv._real(_array_of(weight), "weight")
    x4, w4, geometry = _as_2d(x, w, stride, padding, dilation, groups)
    y4 = _conv.conv2d(x4, w4, _array_of(bias), *geometry)
    y = _squeezed(y4, x.ndim)
    x_shape, w_shape, y4_shape = x.shape, w.shape, y4.shape

    def backward(g):
        g4 = g.reshape(y4_shape)  # the height-1 view of the output gradient
        gx = gw = gb = None
        if _wants(weight):
            if _wants(bias):  # the bias gradient comes out of the same pass
                gw, gb = _conv.conv2d_weight(x4, w4.shape, g4, *geometry, with_bias=True)
            else:
                gw = _conv.conv2d_weight(x4, w4.shape, g4, *geometry)
            gw = gw.reshape(w_shape)
        elif _wants(bias):
            gb = _conv.conv2d_bias(g4)
        if _wants(input):
            gx = _conv.conv2d_input(x4.shape, w4, g4, *geometry).reshape(x_shape)
        return gx, gw, gb

    return _record(y, (input, weight, bias), backward, "conv1d")
