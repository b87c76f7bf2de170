"""Normalization layers with PyTorch's parameter and buffer names (weight, bias,
running_mean, running_var, num_batches_tracked), each one cnnnative.ops call (autograd
records it). In eval mode BatchNorm and a tracking InstanceNorm normalise with their
running statistics and never change them, so input gradients can be taken in eval mode."""
from __future__ import annotations

import numpy as np

from .. import ops
from ._util import as_input, finite, index, weights_for, positive
from .module import Module, Parameter

__all__ = ["BatchNorm1d", "BatchNorm2d", "LayerNorm", "GroupNorm", "InstanceNorm2d",
           "LocalResponseNorm"]


def _affine(module, shape, affine):
    if affine:
        module.weight = Parameter(np.ones(shape, np.float32))
        module.bias = Parameter(np.zeros(shape, np.float32))
    else:
        module._parameters["weight"] = None
        module._parameters["bias"] = None


def _running_stats(module, num_features, track):
    if track:
        module.register_buffer("running_mean", np.zeros(num_features, np.float32))
        module.register_buffer("running_var", np.ones(num_features, np.float32))
        module.register_buffer("num_batches_tracked", np.zeros((), np.int64))
    else:
        for name in ("running_mean", "running_var", "num_batches_tracked"):
            module.register_buffer(name, None)


class _BatchNorm(Module):
    _ndims = (4,)

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True) -> None:
        super().__init__()
        self.num_features = positive(num_features, "num_features")
        self.eps = finite(eps, "eps", 0.0)
        self.momentum = None if momentum is None else finite(momentum, "momentum", 0.0, maximum=1.0)
        self.affine = bool(affine)
        self.track_running_stats = bool(track_running_stats)
        _affine(self, self.num_features, affine)
        _running_stats(self, self.num_features, self.track_running_stats)

    def _as4d(self, x):
        return x

    def output_shape(self, input_shape):
        if len(input_shape) + 1 not in self._ndims or input_shape[0] != self.num_features:
            raise self._shape_error(input_shape, f"expected {self.num_features} channels first "
                                    f"and {[d - 1 for d in self._ndims]} dims per sample")
        return tuple(input_shape)

    def forward(self, x):
        x = as_input(x, self, self._ndims)
        if x.shape[1] != self.num_features:
            raise ValueError(f"{self!r}: input has {x.shape[1]} channels, expected "
                             f"{self.num_features} (input shape {tuple(x.shape)})")
        use_batch = self.training or not self.track_running_stats
        momentum = 0.0 if self.momentum is None else float(self.momentum)
        if self.training and self.track_running_stats:
            self.num_batches_tracked += 1
            if self.momentum is None:  # cumulative moving average, as PyTorch
                momentum = 1.0 / float(self.num_batches_tracked)
        x4 = self._as4d(x)
        weight, bias = weights_for(x, self.weight, self.bias)
        y = ops.batch_norm(x4, self.running_mean, self.running_var, weight, bias,
                           training=use_batch, momentum=momentum, eps=self.eps)
        return y if x4 is x else ops.reshape(y, tuple(x.shape))

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"track_running_stats={self.track_running_stats}")


class BatchNorm2d(_BatchNorm):
    """torch.nn.BatchNorm2d: per-channel normalisation of (N, C, H, W)."""


class BatchNorm1d(_BatchNorm):
    """torch.nn.BatchNorm1d: per-feature normalisation of (N, C) or (N, C, L)."""

    _ndims = (2, 3)

    def _as4d(self, x):
        length = x.shape[2] if x.ndim == 3 else 1
        return ops.reshape(x, (x.shape[0], x.shape[1], length, 1))


class LayerNorm(Module):
    """torch.nn.LayerNorm: normalise over the trailing `normalized_shape` dims."""

    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True) -> None:
        super().__init__()
        if not hasattr(normalized_shape, "__iter__") or isinstance(normalized_shape, (str, bytes)):
            normalized_shape = (index(normalized_shape, "normalized_shape"),)  # one int, else TypeError
        self.normalized_shape = tuple(positive(d, "normalized_shape") for d in normalized_shape)
        self.eps = finite(eps, "eps", 0.0)
        self.elementwise_affine = bool(elementwise_affine)
        _affine(self, self.normalized_shape, elementwise_affine)

    def output_shape(self, input_shape):
        k = len(self.normalized_shape)
        if tuple(input_shape[-k:]) != self.normalized_shape:
            raise self._shape_error(input_shape, f"trailing dims must be {self.normalized_shape}")
        return tuple(input_shape)

    def forward(self, x):
        x = as_input(x, self)
        weight, bias = weights_for(x, self.weight, self.bias)
        return ops.layer_norm(x, self.normalized_shape, weight, bias, self.eps)

    def extra_repr(self):
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"


class GroupNorm(Module):
    """torch.nn.GroupNorm: (N, C, ...) normalised over each group of C/num_groups channels."""

    def __init__(self, num_groups, num_channels, eps=1e-5, affine=True) -> None:
        super().__init__()
        self.num_groups = positive(num_groups, "num_groups")
        self.num_channels = positive(num_channels, "num_channels")
        if self.num_channels % self.num_groups:
            raise ValueError(f"GroupNorm: num_channels ({num_channels}) must be divisible by "
                             f"num_groups ({num_groups})")
        self.eps = finite(eps, "eps", 0.0)
        self.affine = bool(affine)
        _affine(self, self.num_channels, affine)

    def output_shape(self, input_shape):
        if len(input_shape) < 1 or input_shape[0] != self.num_channels:
            raise self._shape_error(input_shape, f"expected {self.num_channels} channels")
        return tuple(input_shape)

    def forward(self, x):
        x = as_input(x, self)
        weight, bias = weights_for(x, self.weight, self.bias)
        return ops.group_norm(x, self.num_groups, weight, bias, self.eps)

    def extra_repr(self):
        return f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}"


class InstanceNorm2d(Module):
    """torch.nn.InstanceNorm2d: each (sample, channel) plane of (N, C, H, W) normalised."""

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=False, track_running_stats=False) -> None:
        super().__init__()
        self.num_features = positive(num_features, "num_features")
        self.eps = finite(eps, "eps", 0.0)
        self.momentum = finite(momentum, "momentum", 0.0, maximum=1.0)
        self.affine = bool(affine)
        self.track_running_stats = bool(track_running_stats)
        _affine(self, self.num_features, affine)
        _running_stats(self, self.num_features, self.track_running_stats)

    def output_shape(self, input_shape):
        if len(input_shape) != 3 or input_shape[0] != self.num_features:
            raise self._shape_error(input_shape, f"expected ({self.num_features}, H, W)")
        return tuple(input_shape)

    def forward(self, x):
        x = as_input(x, self, 4)
        # PyTorch's InstanceNorm keeps num_batches_tracked (for state_dict) but never counts.
        use_input_stats = self.training or not self.track_running_stats
        weight, bias = weights_for(x, self.weight, self.bias)
        return ops.instance_norm(x, self.running_mean, self.running_var, weight, bias,
                                 use_input_stats=use_input_stats, momentum=self.momentum, eps=self.eps)

    def extra_repr(self):
        return f"{self.num_features}, eps={self.eps}, affine={self.affine}"


class LocalResponseNorm(Module):
    """torch.nn.LocalResponseNorm across channels of (N, C, H, W) (AlexNet)."""

    def __init__(self, size, alpha=1e-4, beta=0.75, k=1.0) -> None:
        super().__init__()
        self.size = positive(size, "size")
        self.alpha, self.beta, self.k = float(alpha), float(beta), float(k)

    def output_shape(self, input_shape):
        return tuple(input_shape)

    def forward(self, x):
        x = as_input(x, self)
        return ops.local_response_norm(x, self.size, self.alpha, self.beta, self.k)

    def extra_repr(self):
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"
