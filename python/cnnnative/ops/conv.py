"""Convolution: forward and both gradients, NCHW float32 with OIHW weights (as PyTorch)."""
from __future__ import annotations

import numpy as np

from .. import _core
from ._args import pair, padding4

__all__ = ["conv2d", "conv2d_input", "conv2d_weight", "conv2d_bias", "conv_algorithms"]


def _size4(value, name):
    try:
        items = tuple(int(v) for v in value)
    except TypeError:
        raise ValueError(f"{name} must be a 4-tuple (N, C, H, W), got {value!r}") from None
    if len(items) != 4:
        raise ValueError(f"{name} must be a 4-tuple, got {value!r}")
    return items


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *, algo="auto"):
    """2-D convolution (cross-correlation, as torch.nn.functional.conv2d).

    input (N, C, H, W); weight (K, C/groups, R, S); bias (K,) or None.
    stride, dilation: int or (h, w); padding: int, (h, w) or (top, bottom, left, right).
    algo: "auto" or a name from conv_algorithms() ("im2col", ...); a name that does not
    exist or cannot run this shape is a ValueError saying why.
    Returns (N, K, OH, OW) with OH = (H + top + bottom - dilation_h*(R-1) - 1)//stride_h + 1.
    """
    return _core.conv2d(input, weight, bias, pair(stride, "stride"), padding4(padding),
                        pair(dilation, "dilation"), int(groups), str(algo))


def conv2d_input(input_size, weight, grad_output, stride=1, padding=0, dilation=1, groups=1, *,
                 algo="auto"):
    """Gradient of conv2d with respect to its input (torch.nn.grad.conv2d_input).

    input_size (N, C, H, W); weight (K, C/groups, R, S); grad_output (N, K, OH, OW).
    Returns (N, C, H, W).
    """
    return _core.conv2d_input(_size4(input_size, "input_size"), weight, grad_output,
                              pair(stride, "stride"), padding4(padding), pair(dilation, "dilation"),
                              int(groups), str(algo))


def conv2d_weight(input, weight_size, grad_output, stride=1, padding=0, dilation=1, groups=1):
    """Gradient of conv2d with respect to its weight (torch.nn.grad.conv2d_weight).

    input (N, C, H, W); weight_size (K, C/groups, R, S); grad_output (N, K, OH, OW).
    Returns (K, C/groups, R, S).
    """
    dw, _ = _core.conv2d_weight(input, _size4(weight_size, "weight_size"), grad_output,
                                pair(stride, "stride"), padding4(padding), pair(dilation, "dilation"),
                                int(groups), False)
    return dw


def conv2d_bias(grad_output):
    """Gradient of conv2d with respect to its bias: grad_output (N, K, OH, OW) summed
    over N, OH, OW -> (K,)."""
    g = np.ascontiguousarray(grad_output, dtype=np.float32)
    if g.ndim != 4:
        raise ValueError(f"grad_output must be 4-D, got shape {g.shape}")
    return g.sum(axis=(0, 2, 3), dtype=np.float32)


def conv_algorithms(input_size, weight_size, stride=1, padding=0, dilation=1, groups=1) -> dict:
    """Which algorithms can run this convolution: {name: {supported, reason,
    backward_input, workspace_bytes}, ..., "auto": the name auto would choose}."""
    return _core.conv_algorithm_support(_size4(input_size, "input_size"),
                                        _size4(weight_size, "weight_size"), pair(stride, "stride"),
                                        padding4(padding), pair(dilation, "dilation"), int(groups))
