"""cnnnative.nn.functional: torch.nn.functional's names over cnnnative.ops.

Each name is the `cnnnative.ops` function itself (same dispatch: numpy arrays in give
numpy out; Tensors that require grad record the op for autograd), or a thin adapter where
torch's signature differs. Losses are looked up in `cnnnative.ops` when first asked for,
so every loss ops provides is available here under its torch name.
"""
from __future__ import annotations

from .. import ops
from ..ops import (avg_pool2d, batch_norm, conv1d, conv2d, dropout, flatten, group_norm, instance_norm,
                   gelu, hardsigmoid, hardswish, layer_norm, leaky_relu, linear, local_response_norm, log_softmax, max_pool2d,
                   relu, relu6, sigmoid, silu, softmax, tanh)
from ..ops import (alpha_dropout, celu, dropout2d, dropout3d, elu, hardtanh, logsigmoid, mish, prelu, selu,
                   softplus, softsign, threshold)

__all__ = ["conv1d", "conv2d", "linear", "relu", "relu6", "leaky_relu", "sigmoid", "tanh", "silu", "gelu",
           "hardswish", "hardsigmoid", "softmax",
           "log_softmax", "max_pool2d", "avg_pool2d", "adaptive_avg_pool2d", "global_avg_pool2d",
           "batch_norm", "layer_norm", "group_norm", "instance_norm", "local_response_norm",
           "dropout", "flatten",
           "prelu", "elu", "selu", "celu", "hardtanh", "threshold", "mish", "softplus", "softsign", "logsigmoid",
           "dropout2d", "dropout3d", "alpha_dropout"]

_LOSSES = ("cross_entropy", "nll_loss", "mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss",
           "binary_cross_entropy", "binary_cross_entropy_with_logits", "kl_div")


def global_avg_pool2d(input):
    """Mean over H and W: (N, C, H, W) -> (N, C, 1, 1)."""
    return ops.global_avg_pool2d(input)


def adaptive_avg_pool2d(input, output_size):
    """torch.nn.functional.adaptive_avg_pool2d for output_size 1 (the global average);
    other sizes are a ValueError."""
    size = (output_size, output_size) if isinstance(output_size, int) else tuple(output_size)
    if size != (1, 1):
        raise ValueError(f"adaptive_avg_pool2d supports output_size=1 only, got {output_size!r}")
    return ops.global_avg_pool2d(input)


def __getattr__(name):
    # Losses live in cnnnative.ops (the losses area); re-export whichever exist.
    if name in _LOSSES and hasattr(ops, name):
        return getattr(ops, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(__all__) | {n for n in _LOSSES if hasattr(ops, n)})
