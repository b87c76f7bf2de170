"""torchvision.ops.SqueezeExcitation with its module structure and state_dict keys
(avgpool, fc1, fc2 -- 1x1 convolutions with bias --, activation, scale_activation), so a
torchvision SE block's weights load as they are. The gate multiplies the input through
ops.channel_scale (one pass; the compiled engine may apply it in place)."""
from __future__ import annotations

from .. import ops
from ._util import as_input, positive
from .activation import ReLU, Sigmoid
from .conv import Conv2d
from .module import Module
from .pool_adaptive import AdaptiveAvgPool2d

__all__ = ["SqueezeExcitation"]


class SqueezeExcitation(Module):
    """x * scale_activation(fc2(activation(fc1(avgpool(x))))), per channel (Hu et al., 2018).

    input (N, C, H, W), C = input_channels; squeeze_channels is the bottleneck width.
    activation / scale_activation: classes (or any callables) returning layers, as in
    torchvision (default ReLU and Sigmoid)."""

    def __init__(self, input_channels: int, squeeze_channels: int, activation=ReLU, scale_activation=Sigmoid) -> None:
        super().__init__()
        positive(input_channels, "input_channels")
        positive(squeeze_channels, "squeeze_channels")
        self.avgpool = AdaptiveAvgPool2d(1)
        self.fc1 = Conv2d(input_channels, squeeze_channels, 1)
        self.fc2 = Conv2d(squeeze_channels, input_channels, 1)
        self.activation = activation()
        self.scale_activation = scale_activation()

    def output_shape(self, input_shape):
        if len(input_shape) != 3 or input_shape[0] != self.fc1.in_channels:
            raise self._shape_error(input_shape, f"expected ({self.fc1.in_channels}, H, W)")
        return tuple(input_shape)

    def _scale(self, x):
        return self.scale_activation(self.fc2(self.activation(self.fc1(self.avgpool(x)))))

    def forward(self, x):
        x = as_input(x, self, 4)
        return ops.channel_scale(x, self._scale(x))
