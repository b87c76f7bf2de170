"""cnnnative.nn.functional: torch.nn.functional's names over cnnnative.ops.

Each name is the `cnnnative.ops` function itself (same dispatch: numpy arrays in give
numpy out; Tensors that require grad record the op for autograd), or a thin adapter where
torch's signature differs. Losses are looked up in `cnnnative.ops` when first asked for,
so every loss ops provides is available here under its torch name.
"""
from __future__ import annotations

from .. import ops
from ..ops import (avg_pool2d, batch_norm, conv1d, conv2d, conv3d, conv_transpose1d, conv_transpose2d, conv_transpose3d,
                   dropout, flatten, group_norm, instance_norm,
                   gelu, hardsigmoid, hardswish, layer_norm, leaky_relu, linear, local_response_norm, log_softmax, max_pool2d,
                   relu, relu6, sigmoid, silu, softmax, tanh)
from ..ops import channel_shuffle, interpolate, pixel_shuffle, pixel_unshuffle
from ..ops import locally_connected2d, tiled_conv2d
from ..ops import (alpha_dropout, celu, dropout2d, dropout3d, elu, hardtanh, logsigmoid, mish, prelu, selu,
                   softplus, softsign, threshold)

from ..ops import (adaptive_avg_pool1d, adaptive_avg_pool2d, adaptive_avg_pool3d, adaptive_max_pool1d,  # noqa: F401
                   adaptive_max_pool2d, adaptive_max_pool3d, avg_pool1d, avg_pool3d, avg_pool_channels, lp_pool1d,
                   lp_pool2d, max_pool1d, max_pool3d, max_pool_channels, max_unpool1d, max_unpool2d)

__all__ = ["conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d",
           "linear", "relu", "relu6", "leaky_relu", "sigmoid", "tanh", "silu", "gelu",
           "hardswish", "hardsigmoid", "softmax",
           "log_softmax", "max_pool2d", "avg_pool2d", "adaptive_avg_pool2d", "global_avg_pool2d",
           "batch_norm", "layer_norm", "group_norm", "instance_norm", "local_response_norm",
           "dropout", "flatten", "interpolate", "upsample", "upsample_nearest", "upsample_bilinear", "pixel_shuffle",
           "pixel_unshuffle", "channel_shuffle",
           "max_pool1d", "max_pool3d", "avg_pool1d", "avg_pool3d", "adaptive_avg_pool1d", "adaptive_avg_pool3d",
           "adaptive_max_pool1d", "adaptive_max_pool2d", "adaptive_max_pool3d", "lp_pool1d", "lp_pool2d",
           "max_unpool1d", "max_unpool2d", "max_pool_channels", "avg_pool_channels",
           "prelu", "elu", "selu", "celu", "hardtanh", "threshold", "mish", "softplus", "softsign", "logsigmoid",
           "dropout2d", "dropout3d", "alpha_dropout"]
__all__ += ["locally_connected2d", "tiled_conv2d"]  # no torch equivalent (ops/local_conv.py)

_LOSSES = ("cross_entropy", "nll_loss", "mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss",
           "binary_cross_entropy", "binary_cross_entropy_with_logits", "kl_div")


def global_avg_pool2d(input):
    """Mean over H and W: (N, C, H, W) -> (N, C, 1, 1)."""
    return ops.global_avg_pool2d(input)


def upsample(input, size=None, scale_factor=None, mode="nearest", align_corners=None):
    """torch.nn.functional.upsample (deprecated there): interpolate with these arguments."""
    return ops.interpolate(input, size, scale_factor, mode, align_corners)


def upsample_nearest(input, size=None, scale_factor=None):
    """interpolate(input, size, scale_factor, mode='nearest')."""
    return ops.interpolate(input, size, scale_factor, "nearest")


def upsample_bilinear(input, size=None, scale_factor=None):
    """interpolate(input, size, scale_factor, mode='bilinear', align_corners=True), as torch."""
    return ops.interpolate(input, size, scale_factor, "bilinear", True)


def __getattr__(name):
    # Losses live in cnnnative.ops (the losses area); re-export whichever exist.
    if name in _LOSSES and hasattr(ops, name):
        return getattr(ops, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(__all__) | {n for n in _LOSSES if hasattr(ops, n)})

from ..ops import pad  # noqa: E402  (torch.nn.functional.pad: constant, reflect, replicate, circular)
__all__ += ["pad"]
